#pragma once
// Each `torchless` subcommand: takes its arguments (after the subcommand
// name), returns the exit code. UsageError propagates to main (exit 2).
#include <string>
#include <vector>

namespace torchless::cli {

int run_train(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);

/// Usage text of one command (or of the program, for "").
std::string usage(const std::string& command);

}  // namespace torchless::cli
