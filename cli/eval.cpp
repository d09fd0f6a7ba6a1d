// torchless eval: a saved classifier on the Fashion-MNIST test set.
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "core/ops.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "cli/model_choice.h"
#include "optim/to_device.h"
#include "optim/train_loop.h"

namespace torchless::cli {

namespace {

int run_eval(const std::vector<std::string>& argv) {
  Args args(argv, {"--data", "--threads", "--model", "--device"}, {});
  if (args.positional().size() != 1)
    throw UsageError(args.positional().empty() ? "missing FILE" : "unexpected argument '" + args.positional()[1] + "'");
  const std::string path = args.positional()[0];
  const std::string data_dir = args.str("--data", io::default_fashion_mnist_dir());
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  set_num_threads(static_cast<int>(args.integer("--threads", hw, 1, 1024)));

  const Device device = device_flag(args.str("--device", "cpu"));

  std::optional<std::string> spec;
  if (auto m = args.opt("--model")) spec = read_model_flag(*m);
  const std::shared_ptr<nn::Module> model = load_model_file(path, spec);
  if (device.is_cuda()) optim::to_device(*model, nullptr, device);
  io::Dataset test = io::load_fashion_mnist(data_dir, false);
  test.images = images_for(*model, test.images);
  const optim::EvalStats st = optim::evaluate(*model, test);
  const int64_t C = st.classes;

  std::printf("%s: %lld test images\n", path.c_str(), static_cast<long long>(test.size()));
  std::printf("test loss %.6f  test accuracy %.4f\n", st.loss, st.accuracy);
  std::printf("per-class accuracy:\n");
  std::vector<double> per(C, 0.0);
  for (int64_t i = 0; i < C; ++i) {
    int64_t row = 0;
    for (int64_t j = 0; j < C; ++j) row += st.confusion[i * C + j];
    per[i] = row ? static_cast<double>(st.confusion[i * C + i]) / static_cast<double>(row) : 0.0;
    std::printf("  %d %-12s %.4f  (%lld/%lld)\n", static_cast<int>(i), io::fashion_class_name(i), per[i],
                static_cast<long long>(st.confusion[i * C + i]), static_cast<long long>(row));
  }
  std::printf("confusion matrix (rows: true class, columns: predicted):\n     ");
  for (int64_t j = 0; j < C; ++j) std::printf("%6d", static_cast<int>(j));
  std::printf("\n");
  for (int64_t i = 0; i < C; ++i) {
    std::printf("  %2d ", static_cast<int>(i));
    for (int64_t j = 0; j < C; ++j) std::printf("%6lld", static_cast<long long>(st.confusion[i * C + j]));
    std::printf("\n");
  }
  std::string js = "{\"test_accuracy\":" + json_num(st.accuracy) + ",\"test_loss\":" + json_num(st.loss) +
                   ",\"per_class\":{";
  for (int64_t i = 0; i < C; ++i)
    js += (i ? "," : "") + json_str(io::fashion_class_name(i)) + ":" + json_num(per[i]);
  js += "}}\n";
  std::fputs(js.c_str(), stdout);
  return 0;
}

}  // namespace

extern const Command kEvalCommand = {
    "eval", "evaluate a saved classifier on the Fashion-MNIST test set",
    "usage: torchless eval FILE [--model SPEC] [--data DIR] [--threads T] [--device D]\n"
    "  FILE is a checkpoint dict with a 'state_dict' entry, or a bare state_dict (a 'module.'\n"
    "  prefix is stripped), of the FashionClassifier, of the --model SPEC architecture, or of\n"
    "  the spec its hparams recorded; or a whole model saved by torch.save(model) of torch's\n"
    "  own layers, or by torchless export. Evaluates in eval mode on the\n"
    "  10,000 test images and prints loss, accuracy, per-class accuracy and the 10x10\n"
    "  confusion matrix; the last line is a JSON summary.\n"
    "  --model SPEC the architecture (see torchless train --help), or @FILE\n"
    "  --data DIR   folder with the idx .gz files (default $TORCHLESS_DATA, else\n"
    "               /usr/share/datasets/fashion-mnist)\n"
    "  --threads T  CPU threads (default: all cores)\n"
    "  --device D   cpu (default), cuda or cuda:N (the CUDA backend has never run on a GPU yet)\n",
    run_eval};

}  // namespace torchless::cli
