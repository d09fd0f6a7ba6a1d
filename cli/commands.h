#pragma once
// The `torchless` subcommands. Each lives in its own cli/<name>.cpp and
// defines one Command; main.cpp lists them. run() takes the arguments after
// the subcommand name and returns the exit code; UsageError propagates to
// main, which prints the usage and exits with 2.
#include <string>
#include <vector>

namespace torchless::cli {

struct Command {
  const char* name;
  const char* summary;  ///< one line for `torchless --help`
  const char* usage;    ///< full help text for `torchless NAME --help`
  int (*run)(const std::vector<std::string>& args);
};

extern const Command kTrainCommand;
extern const Command kInfoCommand;
extern const Command kInspectCommand;
extern const Command kConvertCommand;
extern const Command kVerifyCommand;
extern const Command kEvalCommand;
extern const Command kPredictCommand;
extern const Command kPlotCommand;
extern const Command kExportCommand;

}  // namespace torchless::cli
