// torchless: train, evaluate and inspect PyTorch-compatible models.
#include <cstdio>
#include <exception>
#include <functional>
#include <map>

#include "cli/args.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace torchless::cli;
  const std::map<std::string, std::function<int(const std::vector<std::string>&)>> commands = {
      {"train", run_train},
      {"info", run_info},
  };
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::fputs(usage("").c_str(), argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  auto it = commands.find(cmd);
  if (it == commands.end()) {
    std::fprintf(stderr, "torchless: unknown command '%s'\n\n%s", cmd.c_str(), usage("").c_str());
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(usage(cmd).c_str(), stdout);
      return 0;
    }
  try {
    return it->second(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "torchless %s: %s\n\n%s", cmd.c_str(), e.what(), usage(cmd).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchless %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
