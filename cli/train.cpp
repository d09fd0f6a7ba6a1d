// torchless train: the tutorials' Fashion-MNIST recipe.
#include <cstdio>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/generator.h"
#include "core/ops.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "nn/fashion_classifier.h"
#include "optim/train_loop.h"

namespace torchless::cli {

int run_train(const std::vector<std::string>& argv) {
  Args args(argv,
            {"--data", "--epochs", "--batch-size", "--lr", "--dropout", "--seed", "--threads", "--device",
             "--validation", "--warmup-epochs"},
            {});
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  const std::string data_dir = args.str("--data", io::default_fashion_mnist_dir());
  const int64_t epochs = args.integer("--epochs", 3, 0, 1000000);
  const int64_t batch = args.integer("--batch-size", 64, 1, 1 << 20);
  const double lr = args.real("--lr", 1e-3, 0, 1e3);
  const double p = args.real("--dropout", 0.2, 0, 1);
  const int64_t seed = args.integer("--seed", 0, 0, INT64_MAX);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = args.integer("--threads", hw, 1, 1024);
  const int64_t warmup = args.integer("--warmup-epochs", 0, 0, 1000);
  const std::string device = args.str("--device", "cpu");
  if (device != "cpu") {
    Device d = Device::parse(device);  // throws on nonsense
    if (d.is_cuda() && !cuda_built()) throw std::runtime_error("--device " + device + ": this torchless was built without CUDA");
  }
  const std::string validation = args.str("--validation", "split");
  if (validation != "split" && validation != "test")
    throw UsageError("--validation must be 'split' or 'test', got '" + validation + "'");

  set_num_threads(static_cast<int>(threads));
  Generator gen(static_cast<uint64_t>(seed));

  const io::Dataset full = io::load_fashion_mnist(data_dir, true);
  const io::Dataset test = io::load_fashion_mnist(data_dir, false);
  io::Dataset train = full, valid = test;
  if (validation == "split") {
    const int64_t n_valid = std::min<int64_t>(10000, full.size() / 6);
    train = full.slice(0, full.size() - n_valid);
    valid = full.slice(full.size() - n_valid, n_valid);
  }
  std::printf("Fashion-MNIST: %lld training, %lld validation (%s), %lld test images; batch %lld, %lld thread(s)\n",
              static_cast<long long>(train.size()), static_cast<long long>(valid.size()),
              validation == "split" ? "last 10,000 of the training file" : "the test file",
              static_cast<long long>(test.size()), static_cast<long long>(batch), static_cast<long long>(threads));

  nn::FashionClassifier model(p, &gen);
  optim::AdamOptions opts;
  opts.lr = lr;
  optim::Adam opt(model.parameters(), opts);

  for (int64_t w = 0; w < warmup; ++w) {
    // Warm-up epochs train a throwaway copy of the recipe so they do not change the run.
    Generator wgen(static_cast<uint64_t>(seed) + 1000003 * static_cast<uint64_t>(w + 1));
    nn::FashionClassifier wmodel(p, &wgen);
    optim::Adam wopt(wmodel.parameters(), opts);
    optim::train_epoch(wmodel, wopt, train, batch, wgen);
  }

  optim::EpochStats last;
  optim::EvalStats val;
  double best_sps = 0;
  for (int64_t e = 1; e <= epochs; ++e) {
    ProgressBar bar("Epoch " + std::to_string(e) + "/" + std::to_string(epochs), train.size());
    last = optim::train_epoch(model, opt, train, batch, gen,
                              [&](int64_t done, double loss, double sps) { bar.update(done, loss, sps); });
    bar.finish();
    best_sps = std::max(best_sps, last.samples_per_s);
    val = optim::evaluate(model, valid);
    std::printf("Epoch %lld/%lld  train loss %.6f  valid loss %.6f  valid accuracy %.4f  %.0f samples/s\n",
                static_cast<long long>(e), static_cast<long long>(epochs), last.loss, val.loss, val.accuracy,
                last.samples_per_s);
    std::fflush(stdout);
  }
  const optim::EvalStats tst = optim::evaluate(model, test);
  std::printf("Test accuracy %.4f (%lld images)\n", tst.accuracy, static_cast<long long>(test.size()));
  std::printf(
      "{\"epochs\": %lld, \"batch_size\": %lld, \"threads\": %lld, \"device\": \"%s\", \"seed\": %lld, "
      "\"validation\": \"%s\", \"train_loss\": %.6f, \"valid_loss\": %.6f, \"valid_accuracy\": %.4f, "
      "\"test_accuracy\": %.4f, \"samples_per_s\": %.1f, \"last_epoch_samples_per_s\": %.1f}\n",
      static_cast<long long>(epochs), static_cast<long long>(batch), static_cast<long long>(threads), device.c_str(),
      static_cast<long long>(seed), validation.c_str(), last.loss, val.loss, val.accuracy, tst.accuracy, best_sps,
      last.samples_per_s);
  return 0;
}

}  // namespace torchless::cli
