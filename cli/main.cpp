// torchless: train, evaluate, inspect and convert PyTorch-compatible models.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "core/storage.h"

namespace {

using torchless::cli::Command;

const Command* const kCommands[] = {
    &torchless::cli::kTrainCommand, &torchless::cli::kInfoCommand,
    &torchless::cli::kInspectCommand, &torchless::cli::kConvertCommand, &torchless::cli::kVerifyCommand,
    &torchless::cli::kEvalCommand, &torchless::cli::kPredictCommand, &torchless::cli::kPlotCommand,
    &torchless::cli::kExportCommand,
};

std::string program_usage() {
  std::string s = "usage: torchless <command> [options]\ncommands:\n";
  for (const Command* c : kCommands) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-9s %s\n", c->name, c->summary);
    s += line;
  }
  return s + "Run 'torchless <command> --help' for a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(program_usage().c_str(), stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(program_usage().c_str(), stdout);
    return 0;
  }
  const Command* command = nullptr;
  for (const Command* c : kCommands)
    if (cmd == c->name) command = c;
  if (!command) {
    std::fprintf(stderr, "torchless: unknown command '%s'\n\n%s", cmd.c_str(), program_usage().c_str());
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& a : args) {
    if (a == "--") break;  // after "--" a "--help" is a file name
    if (a == "--help" || a == "-h") {
      std::fputs(command->usage, stdout);
      return 0;
    }
  }
  try {
    return command->run(args);
  } catch (const torchless::cli::UsageError& e) {
    std::fprintf(stderr, "torchless %s: %s\n\n%s", cmd.c_str(), torchless::cli::printable(e.what()).c_str(),
                 command->usage);
    return 2;
  } catch (const torchless::OutOfMemoryError& e) {  // says how much
    std::fprintf(stderr, "torchless %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {  // a bare one names nothing
    std::fprintf(stderr, "torchless %s: error: out of memory (std::bad_alloc)\n", cmd.c_str());
    return 1;
  } catch (const std::exception& e) {
    // Messages quote names from the files; escape them so they cannot drive the terminal.
    std::fprintf(stderr, "torchless %s: error: %s\n", cmd.c_str(), torchless::cli::printable(e.what()).c_str());
    return 1;
  }
}
