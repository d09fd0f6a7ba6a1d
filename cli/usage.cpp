#include <map>

#include "cli/commands.h"

namespace torchless::cli {

std::string usage(const std::string& command) {
  static const std::map<std::string, std::string> kUsage = {
      {"train",
       "usage: torchless train [--data DIR] [--epochs N] [--batch-size B] [--lr LR] [--dropout P]\n"
       "                       [--seed S] [--threads T] [--device cpu] [--validation split|test]\n"
       "                       [--warmup-epochs W]\n"
       "  Trains the tutorials' FashionClassifier (784-512-256-128-64-10, ReLU, dropout, Adam) on\n"
       "  Fashion-MNIST. Validation is the last 10,000 training images (split, default) or the\n"
       "  test file (test). The last line printed is a JSON summary.\n"
       "  --data DIR         folder with the idx .gz files (default /usr/share/datasets/fashion-mnist)\n"
       "  --epochs N         epochs to train (default 3)\n"
       "  --batch-size B     minibatch size (default 64)\n"
       "  --lr LR            Adam learning rate (default 0.001)\n"
       "  --dropout P        dropout probability after each hidden layer (default 0.2)\n"
       "  --seed S           seed for initialisation, shuffling and dropout (default 0)\n"
       "  --threads T        CPU threads (default: all cores)\n"
       "  --warmup-epochs W  untimed epochs before the timed ones, for benchmarks (default 0)\n"},
      {"info", "usage: torchless info\n  Version, CUDA backend, Eigen SIMD and threads.\n"},
  };
  if (auto it = kUsage.find(command); it != kUsage.end()) return it->second;
  return "usage: torchless <command> [options]\n"
         "commands:\n"
         "  train     train the Fashion-MNIST classifier\n"
         "  info      show build and device information\n"
         "Run 'torchless <command> --help' for a command's options.\n";
}

}  // namespace torchless::cli
