// torchless train: the tutorials' Fashion-MNIST recipe, with the latest and
// best checkpoints, resume, init from a state_dict, freezing and metrics.
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/generator.h"
#include "core/ops.h"
#include "io/checked_file.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "nn/fashion_classifier.h"
#include "optim/train_loop.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

void make_dirs(const std::string& dir) {
  std::string partial;
  std::stringstream ss(dir);
  if (!dir.empty() && dir[0] == '/') partial = "/";
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty()) continue;
    partial.append(part).push_back('/');
    if (mkdir(partial.c_str(), 0777) != 0 && errno != EEXIST)
      throw std::runtime_error("--checkpoint-dir: cannot create " + partial + ": " + std::strerror(errno));
  }
}

// Loads a state_dict (bare, or a checkpoint's) into the model.
void init_from(nn::Module& model, const std::string& path, bool strict) {
  io::LoadOptions lo;
  lo.map_location = io::MapLocation::parse("cpu");
  bool stripped = false;
  nn::StateDict sd = nn::model_state_dict_of(io::load(path, lo), path, &stripped);
  if (stripped) std::printf("--init %s: stripped the 'module.' prefix (a DataParallel-wrapped model's state_dict)\n", path.c_str());
  nn::LoadResult r;
  try {
    r = model.load_state_dict(sd, strict);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("--init " + path + ": " + e.what() + (strict ? " (use --non-strict to load what matches)" : ""));
  }
  std::printf("--init %s: loaded %zu tensor(s)", path.c_str(), sd.size() - r.unexpected_keys.size());
  if (!r.missing_keys.empty()) std::printf("; missing keys: %s", join(r.missing_keys).c_str());
  if (!r.unexpected_keys.empty()) std::printf("; unexpected keys: %s", join(r.unexpected_keys).c_str());
  std::printf("\n");
}

// io::save is atomic (temp file + rename); say which checkpoint failed and
// that the one already there is intact, instead of naming only the temp file.
void save_checkpoint(const io::ValuePtr& ck, const std::string& path) {
  try {
    io::save(ck, path);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot save the checkpoint " + path + " (" + e.what() +
                             "); the previous file there, if any, is unchanged");
  }
}

// Fails before any training if a checkpoint could not be written there
// (the temp file an atomic save starts with is created and removed).
void check_writable(const std::string& path) {
  try {
    io::AtomicFileWriter probe(path);  // destroyed uncommitted: removed, `path` untouched
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot save the checkpoint " + path + " (" + e.what() +
                             "); found before training, nothing was written and the previous file there, "
                             "if any, is unchanged");
  }
}

class MetricsCsv {
 public:
  MetricsCsv(const std::string& path, bool append) : path_(path) {
    if (path.empty()) return;
    struct stat st {};
    const bool exists = stat(path.c_str(), &st) == 0 && st.st_size > 0;
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) throw std::runtime_error("--metrics " + path + ": cannot open for writing");
    if (!(append && exists)) out_ << "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s\n";
    out_.flush();
  }
  void row(int64_t epoch, double train_loss, double valid_loss, double acc, double sps) {
    if (path_.empty()) return;
    char line[200];
    std::snprintf(line, sizeof line, "%lld,%.6f,%.6f,%.4f,%.1f\n", static_cast<long long>(epoch), train_loss,
                  valid_loss, acc, sps);
    out_ << line;
    out_.flush();
    if (!out_) throw std::runtime_error("--metrics " + path_ + ": write failed");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

int run_train(const std::vector<std::string>& argv) {
  Args args(argv,
            {"--data", "--epochs", "--batch-size", "--lr", "--dropout", "--seed", "--threads", "--device",
             "--validation", "--warmup-epochs", "--checkpoint-dir", "--checkpoint", "--resume", "--init", "--freeze",
             "--metrics", "--train-size", "--valid-size"},
            {"--non-strict", "--no-checkpoints"});
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  if (args.has("--resume") && args.has("--init")) throw UsageError("--resume and --init cannot be combined");

  // A resumed run takes its recipe from the checkpoint unless a flag overrides it.
  io::ValuePtr resume_ck;
  optim::HyperParams hp;
  if (auto path = args.opt("--resume")) {
    io::LoadOptions lo;
    lo.map_location = io::MapLocation::parse("cpu");
    resume_ck = io::load(*path, lo);
    hp = optim::read_hparams(resume_ck);
  }
  const std::string data_dir = args.str("--data", io::default_fashion_mnist_dir());
  const int64_t epochs = args.integer("--epochs", 3, 0, 1000000);
  hp.batch_size = args.integer("--batch-size", hp.batch_size, 1, 1 << 20);
  hp.lr = args.real("--lr", hp.lr, 0, 1e3);
  hp.dropout = args.real("--dropout", hp.dropout, 0, 1);
  hp.seed = args.integer("--seed", hp.seed, 0, INT64_MAX);
  hp.validation = args.str("--validation", hp.validation);
  if (hp.validation != "split" && hp.validation != "test")
    throw UsageError("--validation must be 'split' or 'test', got '" + hp.validation + "'");
  if (auto f = args.opt("--freeze")) hp.frozen = split_list(*f);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = args.integer("--threads", hw, 1, 1024);
  const int64_t warmup = args.integer("--warmup-epochs", 0, 0, 1000);
  const int64_t train_size = args.integer("--train-size", 0, 0, INT64_MAX);
  const int64_t valid_size = args.integer("--valid-size", 0, 0, INT64_MAX);
  const std::string device = args.str("--device", "cpu");
  if (Device::parse(device).is_cuda())
    throw std::runtime_error("--device " + device + ": " +
                             (cuda_built() ? "CUDA training is not available yet" : "this torchless was built without CUDA"));
  const bool save_checkpoints = !args.has("--no-checkpoints");
  const std::string ck_dir = args.str("--checkpoint-dir", "checkpoints");
  const std::string latest_path = args.str("--checkpoint", ck_dir + "/current_checkpoint.pt");
  const std::string best_path = ck_dir + "/best_model.pt";

  set_num_threads(static_cast<int>(threads));
  Generator gen(static_cast<uint64_t>(hp.seed));

  const io::Dataset full = io::load_fashion_mnist(data_dir, true);
  const io::Dataset test = io::load_fashion_mnist(data_dir, false);
  io::Dataset train = full, valid = test;
  if (hp.validation == "split") {
    const int64_t n_valid = std::min<int64_t>(10000, full.size() / 6);
    train = full.slice(0, full.size() - n_valid);
    valid = full.slice(full.size() - n_valid, n_valid);
  }
  if (train_size) train = train.slice(0, std::min(train_size, train.size()));
  if (valid_size) valid = valid.slice(0, std::min(valid_size, valid.size()));
  std::printf("Fashion-MNIST: %lld training, %lld validation (%s), %lld test images; batch %lld, %lld thread(s)\n",
              static_cast<long long>(train.size()), static_cast<long long>(valid.size()),
              hp.validation == "split" ? "end of the training file" : "the test file",
              static_cast<long long>(test.size()), static_cast<long long>(hp.batch_size),
              static_cast<long long>(threads));

  nn::FashionClassifier model(hp.dropout, &gen);
  optim::AdamOptions opts;
  opts.lr = hp.lr;
  optim::Adam opt(model.parameters(), opts);
  if (auto init = args.opt("--init")) init_from(model, *init, !args.has("--non-strict"));

  optim::TrainingState st;
  st.hparams = hp;
  int64_t start_epoch = 1;
  if (resume_ck) {
    std::string note;
    optim::TrainingState saved = optim::load_training_checkpoint(resume_ck, model, opt, &note);
    if (!note.empty()) std::printf("--resume: %s\n", note.c_str());
    // The optimizer keeps the file's state; a changed --lr applies from now on.
    for (auto& g : opt.param_groups()) g.options.lr = hp.lr;
    st.epoch = saved.epoch;
    st.valid_loss_min = saved.valid_loss_min;
    start_epoch = saved.epoch + 1;
    if (saved.rng_state) {
      gen.set_state(*saved.rng_state);
    } else {
      gen.manual_seed(static_cast<uint64_t>(hp.seed) + static_cast<uint64_t>(saved.epoch));
      std::printf("--resume: the checkpoint has no torchless rng_state (written by PyTorch?); "
                  "shuffling and dropout continue from seed %lld + epoch\n", static_cast<long long>(hp.seed));
    }
    std::printf("Resuming from %s: epoch %lld done, valid_loss_min %.6f; training epochs %lld..%lld\n",
                args.str("--resume", "").c_str(), static_cast<long long>(saved.epoch), saved.valid_loss_min,
                static_cast<long long>(start_epoch), static_cast<long long>(epochs));
  }
  if (!hp.frozen.empty()) {
    optim::freeze(model, hp.frozen);
    std::printf("Frozen: %s (requires_grad = false)\n", join(hp.frozen).c_str());
  }
  if (save_checkpoints) {
    make_dirs(ck_dir);
    check_writable(latest_path);
    check_writable(best_path);
  }
  MetricsCsv metrics(args.str("--metrics", ""), resume_ck != nullptr);

  for (int64_t w = 0; w < warmup; ++w) {
    // Warm-up epochs train a throwaway copy so they do not change the run.
    Generator wgen(static_cast<uint64_t>(hp.seed) + 1000003 * static_cast<uint64_t>(w + 1));
    nn::FashionClassifier wmodel(hp.dropout, &wgen);
    optim::Adam wopt(wmodel.parameters(), opts);
    optim::train_epoch(wmodel, wopt, train, hp.batch_size, wgen);
  }

  double best_sps = 0, last_sps = 0;
  for (int64_t e = start_epoch; e <= epochs; ++e) {
    ProgressBar bar("Epoch " + std::to_string(e) + "/" + std::to_string(epochs), train.size());
    const optim::EpochStats es = optim::train_epoch(
        model, opt, train, hp.batch_size, gen, [&](int64_t done, double loss, double sps) { bar.update(done, loss, sps); });
    bar.finish();
    best_sps = std::max(best_sps, es.samples_per_s);
    last_sps = es.samples_per_s;
    const optim::EvalStats val = optim::evaluate(model, valid);
    std::printf("Epoch %lld/%lld  train loss %.6f  valid loss %.6f  valid accuracy %.4f  %.0f samples/s\n",
                static_cast<long long>(e), static_cast<long long>(epochs), es.loss, val.loss, val.accuracy,
                es.samples_per_s);
    metrics.row(e, es.loss, val.loss, val.accuracy, es.samples_per_s);
    st.epoch = e;
    st.train_loss = es.loss;
    st.valid_loss = val.loss;
    st.valid_accuracy = val.accuracy;
    const bool improved = val.loss <= st.valid_loss_min;
    const double previous_min = st.valid_loss_min;
    if (improved) st.valid_loss_min = val.loss;
    st.rng_state = gen.get_state();
    if (save_checkpoints) {
      const io::ValuePtr ck = optim::make_training_checkpoint(st, model, opt);
      save_checkpoint(ck, latest_path);
      if (improved) {
        std::printf("Validation loss decreased (%.6f --> %.6f).  Saving model ...\n", previous_min, val.loss);
        save_checkpoint(ck, best_path);
      }
    }
    std::fflush(stdout);
  }
  const optim::EvalStats tst = optim::evaluate(model, test);
  std::printf("Test accuracy %.4f (%lld images)\n", tst.accuracy, static_cast<long long>(test.size()));
  // NaN/inf (no epoch trained, e.g. --epochs 0) are not JSON: they print as null.
  std::printf(
      "{\"epochs\": %lld, \"start_epoch\": %lld, \"batch_size\": %lld, \"threads\": %lld, \"device\": \"%s\", "
      "\"seed\": %lld, \"validation\": \"%s\", \"train_loss\": %s, \"valid_loss\": %s, \"valid_accuracy\": %s, "
      "\"valid_loss_min\": %s, \"test_accuracy\": %.4f, \"samples_per_s\": %.1f, \"last_epoch_samples_per_s\": %.1f}\n",
      static_cast<long long>(epochs), static_cast<long long>(start_epoch), static_cast<long long>(hp.batch_size),
      static_cast<long long>(threads), device.c_str(), static_cast<long long>(hp.seed), hp.validation.c_str(),
      json_num(st.train_loss, 6).c_str(), json_num(st.valid_loss, 6).c_str(),
      json_num(st.valid_accuracy, 4).c_str(), json_num(st.valid_loss_min, 6).c_str(), tst.accuracy, best_sps,
      last_sps);
  return 0;
}

}  // namespace

extern const Command kTrainCommand = {
    "train", "train the Fashion-MNIST classifier (checkpoints, resume, freeze)",
    "usage: torchless train [options]\n"
    "  Trains the tutorials' FashionClassifier (784-512-256-128-64-10, ReLU, dropout, Adam,\n"
    "  cross-entropy) on Fashion-MNIST. Every epoch writes the latest checkpoint, and the best\n"
    "  one when the validation loss improves; both are dicts {epoch, valid_loss_min, state_dict,\n"
    "  optimizer, rng_state, hparams} that Python's torch.load reads. The last line printed is\n"
    "  a JSON summary.\n"
    "  --data DIR            folder with the idx .gz files (default /usr/share/datasets/fashion-mnist)\n"
    "  --epochs N            number of the last epoch to train (default 3)\n"
    "  --batch-size B        minibatch size (default 64)\n"
    "  --lr LR               Adam learning rate (default 0.001)\n"
    "  --dropout P           dropout after each hidden layer (default 0.2)\n"
    "  --seed S              seed for initialisation, shuffling and dropout (default 0)\n"
    "  --threads T           CPU threads (default: all cores)\n"
    "  --device cpu          where to train\n"
    "  --validation V        'split': the last 10,000 training images (default); 'test': the test file\n"
    "  --checkpoint-dir DIR  where current_checkpoint.pt and best_model.pt go (default checkpoints)\n"
    "  --checkpoint PATH     the latest checkpoint's path (default DIR/current_checkpoint.pt)\n"
    "  --no-checkpoints      write no checkpoints\n"
    "  --resume FILE         carry on from a checkpoint (torchless's or PyTorch's) at its epoch + 1\n"
    "  --init FILE           start from a state_dict (or a checkpoint's state_dict)\n"
    "  --non-strict          with --init: load the keys that match, report the others\n"
    "  --freeze LIST         comma-separated modules to freeze, e.g. fc1,fc2\n"
    "  --metrics FILE        append one CSV row per epoch (see 'torchless plot')\n"
    "  --train-size N        use only the first N training images\n"
    "  --valid-size N        use only the first N validation images\n"
    "  --warmup-epochs W     untimed throwaway epochs first, for benchmarks (default 0)\n",
    run_train};

}  // namespace torchless::cli
