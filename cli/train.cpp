// torchless train: the tutorials' Fashion-MNIST recipe, with the latest and
// best checkpoints, resume, init from a state_dict, freezing and metrics.
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "cli/metrics_csv.h"
#include "cli/progress.h"
#include "cli/train_dist.h"
#include "cli/train_options.h"
#include "core/generator.h"
#include "core/ops.h"
#include "dist/data_parallel.h"
#include "io/checked_file.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "cli/model_choice.h"
#include "nn/model_spec.h"
#include "optim/to_device.h"
#include "optim/train_loop.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {
namespace {

namespace fs = std::filesystem;

// "--resume FILE: what", once: io::load's errors start with the file name
// already, the checkpoint reader's with "checkpoint: ".
std::string with_file(const std::string& flag, const std::string& path, std::string what) {
  for (const std::string& prefix : {path + ": ", std::string("checkpoint: ")})
    if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
  return flag + " " + path + ": " + what;
}

void make_dirs(const std::string& dir, const std::string& flag) {
  std::string partial;
  std::stringstream ss(dir);
  if (!dir.empty() && dir[0] == '/') partial = "/";
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty()) continue;
    partial.append(part).push_back('/');
    if (mkdir(partial.c_str(), 0777) != 0 && errno != EEXIST)
      throw std::runtime_error(flag + " " + dir + ": cannot create " + partial + ": " + std::strerror(errno));
  }
}

// Loads a state_dict (bare, or a checkpoint's) into the model.
void init_from(nn::Module& model, const std::string& path, bool strict) {
  io::LoadOptions lo;
  lo.map_location = io::MapLocation::parse("cpu");
  bool stripped = false;
  nn::StateDict sd;
  try {
    sd = nn::model_state_dict_of(io::load(path, lo), path, &stripped);
  } catch (const std::exception& e) {
    throw std::runtime_error(with_file("--init", path, e.what()));
  }
  if (stripped) std::printf("--init %s: stripped the 'module.' prefix (a DataParallel-wrapped model's state_dict)\n", path.c_str());
  nn::LoadResult r;
  try {
    r = model.load_state_dict(sd, strict);
  } catch (const std::exception& e) {
    throw std::runtime_error(with_file("--init", path, e.what()) +
                             (strict ? " (use --non-strict to load what matches)" : ""));
  }
  std::printf("--init %s: loaded %zu tensor(s)", path.c_str(), sd.size() - r.unexpected_keys.size());
  if (!r.missing_keys.empty()) std::printf("; missing keys: %s", join_list(r.missing_keys).c_str());
  if (!r.unexpected_keys.empty()) std::printf("; unexpected keys: %s", join_list(r.unexpected_keys).c_str());
  std::printf("\n");
}

// For --resume of a file with a model's weights but no training state (a
// state_dict, or {'state_dict': ...} alone): say how to start from them.
std::string init_hint(const io::ValuePtr& ck, const std::string& path) {
  if (!ck || (ck->is_dict() && ck->get("epoch") && ck->get("optimizer"))) return "";
  try {
    nn::model_state_dict_of(ck, path);
  } catch (const std::exception&) {
    return "";
  }
  return "; it holds a model's weights but no training state: use --init " + path + " to start from them";
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

[[noreturn]] void unsavable(const std::string& path, const std::string& why) {
  throw std::runtime_error("cannot save the checkpoint " + path + " (" + why +
                           "); found before training, nothing was written and the previous file there, "
                           "if any, is unchanged");
}

// A directory where a checkpoint goes, found before the data loads (the
// probe below needs the folders, which are made only after it).
void check_not_directory(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) unsavable(path, "it is a directory");
}

// Fails before any training if a checkpoint could not be written there
// (the temp file an atomic save starts with is created and removed).
void check_writable(const std::string& path) {
  try {
    io::AtomicFileWriter probe(path);  // destroyed uncommitted: removed, `path` untouched
  } catch (const std::exception& e) {
    unsavable(path, e.what());
  }
}

// `comm`: this rank's communicator under mpirun (null in a plain process).
int train(const TrainOptions& o, dist::Communicator* comm) {
  const std::string &data_dir = o.data_dir, &ck_dir = o.ck_dir, &latest_path = o.latest_path,
                    &best_path = o.best_path;
  const auto &resume_path = o.resume_path, &init_path = o.init_path;
  const int64_t epochs = o.epochs, threads = o.threads;
  // Under mpirun, rank 0 alone writes checkpoints and metrics.
  const bool leader = !comm || comm->rank() == 0;
  const bool save_checkpoints = o.save_checkpoints && leader;
  const std::string metrics_path = leader ? o.metrics_path : std::string();

  // A resumed run takes its recipe from the checkpoint unless a flag overrides
  // it; what it takes gets the flags' checks, and errors name the file.
  io::ValuePtr resume_ck;
  optim::TrainingState saved;
  if (resume_path) {
    try {
      io::LoadOptions lo;
      lo.map_location = io::MapLocation::parse("cpu");
      resume_ck = io::load(*resume_path, lo);
      saved = optim::read_training_state(resume_ck);
    } catch (const std::exception& e) {
      throw std::runtime_error(with_file("--resume", *resume_path, e.what()) + init_hint(resume_ck, *resume_path));
    }
    if (epochs <= saved.epoch)
      throw UsageError("--epochs " + std::to_string(epochs) + ": the checkpoint " + *resume_path +
                       " already finished epoch " + std::to_string(saved.epoch) +
                       "; --epochs is the total number of epochs, not how many more to train (pass --epochs " +
                       std::to_string(saved.epoch + 1) + " or more)");
  }
  const optim::HyperParams hp = resolve_recipe(o, resume_path ? &saved.hparams : nullptr, resume_path.value_or(""));
  if (comm) {
    try {
      dist::check_global_batch(hp.batch_size, comm->size());
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  // Destinations that cannot be written, found before anything is (the
  // folders are made and the saves probed once the data has loaded).
  if (save_checkpoints) {
    struct stat st {};
    if (stat(ck_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
      throw std::runtime_error("--checkpoint-dir " + ck_dir + ": exists and is not a directory");
    check_not_directory(latest_path);
    check_not_directory(best_path);
  }
  if (!metrics_path.empty()) check_metrics_file(metrics_path);

  set_num_threads(static_cast<int>(threads));
  if (o.flush_denormal && !set_flush_denormal(true))
    std::fprintf(stderr, "torchless train: --flush-denormal: this CPU has no flush-to-zero mode; ignored\n");
  Generator gen(static_cast<uint64_t>(hp.seed));
  const std::shared_ptr<nn::Module> model_ptr = make_model(hp.model_spec, hp.dropout, &gen);
  nn::Module& model = *model_ptr;
  if (!hp.model_spec.empty()) std::printf("Model: %s\n", nn::model_spec(model).c_str());
  optim::AdamOptions opts;
  opts.lr = hp.lr;
  optim::Adam opt(model.parameters(), opts);
  if (init_path) init_from(model, *init_path, o.strict_init);

  optim::TrainingState st;
  st.hparams = hp;
  int64_t start_epoch = 1;
  if (resume_ck) {
    std::string note;
    try {
      saved = optim::load_training_checkpoint(resume_ck, model, opt, &note);
    } catch (const std::exception& e) {
      throw std::runtime_error(with_file("--resume", *resume_path, e.what()));
    }
    if (!note.empty()) std::printf("--resume: %s\n", note.c_str());
    // The optimizer keeps the file's state; a changed --lr applies from now on.
    for (auto& g : opt.param_groups()) g.options.lr = hp.lr;
    st.epoch = saved.epoch;
    st.valid_loss_min = saved.valid_loss_min;
    start_epoch = saved.epoch + 1;
    if (saved.rng_state) {
      gen.set_state(*saved.rng_state);  // checked by read_training_state
    } else {
      gen.manual_seed(static_cast<uint64_t>(hp.seed) + static_cast<uint64_t>(saved.epoch));
      std::printf("--resume: the checkpoint has no torchless rng_state (written by PyTorch?); "
                  "shuffling and dropout continue from seed %lld + epoch\n", static_cast<long long>(hp.seed));
    }
    std::printf("Resuming from %s: epoch %lld done, valid_loss_min %.6f; training epochs %lld..%lld\n",
                resume_path->c_str(), static_cast<long long>(saved.epoch), saved.valid_loss_min,
                static_cast<long long>(start_epoch), static_cast<long long>(epochs));
  }
  if (!hp.frozen.empty()) {
    optim::freeze(model, hp.frozen);
    std::printf("Frozen: %s (requires_grad = false)\n", join_list(hp.frozen).c_str());
  }
  // The model and the optimizer's state (a resumed run's too) move to the
  // device once; checkpoints then save their tensors with its location.
  const Device device = Device::parse(o.device);
  if (device.is_cuda()) {
    if (comm) throw UsageError("--device " + o.device + ": data-parallel training on CUDA is not available yet");
    optim::to_device(model, &opt, device);
    std::printf("Device: %s (not yet verified on a GPU: see README, The CUDA backend)\n", device.str().c_str());
  }

  const io::Dataset full = io::load_fashion_mnist(data_dir, true);
  const io::Dataset test = io::load_fashion_mnist(data_dir, false);
  io::Dataset train = full, valid = test;
  if (hp.validation == "split") {
    const int64_t n_valid = std::min<int64_t>(10000, full.size() / 6);
    train = full.slice(0, full.size() - n_valid);
    valid = full.slice(full.size() - n_valid, n_valid);
  }
  if (o.train_size) train = train.slice(0, std::min(o.train_size, train.size()));
  if (o.valid_size) valid = valid.slice(0, std::min(o.valid_size, valid.size()));
  for (io::Dataset* d : {&train, &valid}) d->images = images_for(model, d->images);
  const io::Dataset test_in{images_for(model, test.images), test.labels};
  // An empty set would "train" with loss 0, or make a valid loss of 0 the best model.
  if (train.size() == 0 || valid.size() == 0) {
    std::string msg = "--data " + data_dir + ": " + std::to_string(full.size()) + " training and " +
                      std::to_string(test.size()) + " test image(s) leave " + std::to_string(train.size()) +
                      " for training and " + std::to_string(valid.size()) + " for validation";
    if (hp.validation == "split")
      msg += " (--validation split holds out a sixth of the training images, at most 10000; "
             "it needs at least 6, or use --validation test)";
    else
      msg += " (--validation test validates on the test images)";
    throw std::runtime_error(msg + ": nothing to " + (train.size() == 0 ? "train on" : "validate on"));
  }
  std::printf("Fashion-MNIST: %lld training, %lld validation (%s), %lld test images; batch %lld, %lld thread(s)\n",
              static_cast<long long>(train.size()), static_cast<long long>(valid.size()),
              hp.validation == "split" ? "end of the training file" : "the test file",
              static_cast<long long>(test.size()), static_cast<long long>(hp.batch_size),
              static_cast<long long>(threads));
  std::optional<dist::GradientBucket> bucket;
  if (comm) {
    agree_and_sync(*comm, o, hp, start_epoch, st.valid_loss_min, train, valid, test, model, opt, gen);
    bucket.emplace(model.parameters());
    std::printf("Data-parallel: %d ranks over %s; %lld images per rank of each batch of %lld; %zu floats "
                "all-reduced per step\n",
                comm->size(), comm->name().c_str(), static_cast<long long>(hp.batch_size / comm->size()),
                static_cast<long long>(hp.batch_size), bucket->size());
  }
  const auto eval = [&](const io::Dataset& d) {
    return comm ? dist::evaluate(*comm, model, d) : optim::evaluate(model, d);
  };

  if (save_checkpoints) {
    make_dirs(ck_dir, "--checkpoint-dir");
    if (const std::string parent = fs::path(latest_path).parent_path().string(); !parent.empty())
      make_dirs(parent, "--checkpoint");
    check_writable(latest_path);
    check_writable(best_path);
  }
  MetricsCsv metrics(metrics_path);

  for (int64_t w = 0; w < o.warmup; ++w) {
    // Warm-up epochs train a throwaway copy so they do not change the run.
    Generator wgen(static_cast<uint64_t>(hp.seed) + 1000003 * static_cast<uint64_t>(w + 1));
    const std::shared_ptr<nn::Module> wmodel = make_model(hp.model_spec, hp.dropout, &wgen);
    optim::Adam wopt(wmodel->parameters(), opts);
    if (device.is_cuda()) optim::to_device(*wmodel, &wopt, device);
    if (comm) {
      dist::GradientBucket wbucket(wmodel->parameters());
      dist::train_epoch(*comm, *wmodel, wopt, wbucket, train, hp.batch_size, wgen);
    } else {
      optim::train_epoch(*wmodel, wopt, train, hp.batch_size, wgen);
    }
  }

  double best_sps = 0, last_sps = 0;
  for (int64_t e = start_epoch; e <= epochs; ++e) {
    const double reduced_before = bucket ? bucket->reduce_seconds() : 0;
    const int64_t steps_before = bucket ? bucket->steps() : 0;
    ProgressBar bar("Epoch " + std::to_string(e) + "/" + std::to_string(epochs), train.size());
    const auto on_batch = [&](int64_t done, double loss, double sps) { bar.update(done, loss, sps); };
    const optim::EpochStats es =
        comm ? dist::train_epoch(*comm, model, opt, *bucket, train, hp.batch_size, gen,
                                 leader ? optim::BatchCallback(on_batch) : optim::BatchCallback())
             : optim::train_epoch(model, opt, train, hp.batch_size, gen, on_batch);
    bar.finish();
    best_sps = std::max(best_sps, es.samples_per_s);
    last_sps = es.samples_per_s;
    const optim::EvalStats val = eval(valid);
    std::printf("Epoch %lld/%lld  train loss %.6f  valid loss %.6f  valid accuracy %.4f  %.0f samples/s\n",
                static_cast<long long>(e), static_cast<long long>(epochs), es.loss, val.loss, val.accuracy,
                es.samples_per_s);
    if (bucket && bucket->steps() > steps_before) {
      const double reduced = bucket->reduce_seconds() - reduced_before;
      std::printf("  all-reduce: %.3f ms per step, %.0f%% of the epoch (rank 0's wait for the others included)\n",
                  1e3 * reduced / static_cast<double>(bucket->steps() - steps_before),
                  es.seconds > 0 ? 100 * reduced / es.seconds : 0.0);
    }
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
    // After the saves: a row for an epoch the checkpoint lacks would be
    // written again by the run that resumes it.
    metrics.row(e, es.loss, val.loss, val.accuracy, es.samples_per_s);
    std::fflush(stdout);
  }
  // No test images: no accuracy (null in the JSON), rather than 0.
  const double test_accuracy = test.size() ? eval(test_in).accuracy : std::nan("");
  if (test.size())
    std::printf("Test accuracy %.4f (%lld images)\n", test_accuracy, static_cast<long long>(test.size()));
  else
    std::printf("Test accuracy: the test file has no images\n");
  // NaN/inf (no epoch trained, e.g. --epochs 0) are not JSON: they print as null.
  std::printf(
      "{\"epochs\": %lld, \"start_epoch\": %lld, \"batch_size\": %lld, \"threads\": %lld, \"device\": \"%s\", "
      "\"seed\": %lld, \"validation\": \"%s\", \"train_loss\": %s, \"valid_loss\": %s, \"valid_accuracy\": %s, "
      "\"valid_loss_min\": %s, \"test_accuracy\": %s, \"samples_per_s\": %.1f, \"last_epoch_samples_per_s\": %.1f, \"flush_denormal\": %s}\n",
      static_cast<long long>(epochs), static_cast<long long>(start_epoch), static_cast<long long>(hp.batch_size),
      static_cast<long long>(threads), o.device.c_str(), static_cast<long long>(hp.seed), hp.validation.c_str(),
      json_num(st.train_loss, 6).c_str(), json_num(st.valid_loss, 6).c_str(),
      json_num(st.valid_accuracy, 4).c_str(), json_num(st.valid_loss_min, 6).c_str(),
      json_num(test_accuracy, 4).c_str(), best_sps, last_sps, flush_denormal() ? "true" : "false");
  return 0;
}

}  // namespace

extern const Command kTrainCommand = {
    "train", "train a Fashion-MNIST classifier (checkpoints, resume, freeze, --model SPEC)",
    "usage: torchless train [options]\n"
    "  Trains the tutorials' FashionClassifier (784-512-256-128-64-10, ReLU, dropout, Adam,\n"
    "  cross-entropy), or the --model SPEC architecture, on Fashion-MNIST. Every epoch writes\n"
    "  the latest checkpoint, and the best one when the validation loss improves; both are\n"
    "  dicts {epoch, valid_loss_min, state_dict, optimizer, rng_state, hparams} that Python's\n"
    "  torch.load reads. The last line printed is a JSON summary.\n"
    "  --data DIR            folder with the idx .gz files (default $TORCHLESS_DATA, else\n"
    "                        /usr/share/datasets/fashion-mnist)\n"
    "  --epochs N            the total number of epochs: the last one to train (default 3); with\n"
    "                        --resume, more than the checkpoint's epoch\n"
    "  --batch-size B        minibatch size (default 64)\n"
    "  --lr LR               Adam learning rate (default 0.001)\n"
    "  --dropout P           dropout after each hidden layer (default 0.2)\n"
    "  --model SPEC          train another architecture, e.g. \"Conv2d(1, 16, 3, padding=1) ReLU\n"
    "                        MaxPool2d(2) Flatten Linear(3136, 10)\" (torch's layers and arguments;\n"
    "                        name:Layer and [nested] give torch's keys; see the README), or @FILE\n"
    "                        for a spec kept in FILE; image planes [N, 1, 28, 28] reach a model\n"
    "                        whose first layer is a Conv2d/pooling/BatchNorm2d, rows [N, 784] any\n"
    "                        other; recorded in the checkpoints' hparams (eval, predict, --resume\n"
    "                        find it there)"
    "  --seed S              seed for initialisation, shuffling and dropout (default 0)\n"
    "  --threads T           CPU threads (default: all cores)\n"
    "  --flush-denormal      treat denormal floats as zero, like torch.set_flush_denormal(True):\n"
    "                        Adam's state turns denormal for weights whose gradient stays zero\n"
    "                        (dead units), and on Intel cores that slows training by up to 40%;\n"
    "                        only values below 1.2e-38 change\n"
    "  --device D            where to train: cpu (default), cuda or cuda:N (the CUDA backend has\n"
    "                        never run on a GPU yet; batches are copied to the device per step)\n"
    "  --validation V        'split': the last 10,000 training images (default); 'test': the test file\n"
    "  --checkpoint-dir DIR  where current_checkpoint.pt and best_model.pt go (default checkpoints)\n"
    "  --checkpoint PATH     the latest checkpoint's path (default DIR/current_checkpoint.pt; not\n"
    "                        DIR/best_model.pt)\n"
    "  --no-checkpoints      write no checkpoints\n"
    "  --resume FILE         carry on from a checkpoint (torchless's or PyTorch's) at its epoch + 1;\n"
    "                        its hparams (batch size, lr, dropout, seed, validation, frozen) apply\n"
    "                        unless given as flags, and get the flags' checks\n"
    "  --init FILE           start from a state_dict (or a checkpoint's state_dict)\n"
    "  --non-strict          with --init: load the keys that match, report the others\n"
    "  --freeze LIST         comma-separated modules to freeze, e.g. fc1,fc2 (not all of them):\n"
    "                        every parameter named so or under that name (layer1 freezes layer1.*)\n"
    "  --metrics FILE        append one CSV row per epoch, after its checkpoints are saved (see\n"
    "                        'torchless plot'); a new or empty FILE gets the header first, and a\n"
    "                        FILE that is neither empty nor such a CSV is refused, never overwritten\n"
    "  --train-size N        use only the first N training images\n"
    "  --valid-size N        use only the first N validation images\n"
    "  --warmup-epochs W     untimed throwaway epochs first, for benchmarks (default 0)\n"
    "  --dist-timeout S      under mpirun: seconds a collective may wait for the other ranks before\n"
    "                        the job is ended with a message naming it (default 300)\n"
    "  Data-parallel: 'mpirun -np N torchless train ...' trains on N processes (see README);\n"
    "  --batch-size is then the global batch, split evenly over the ranks.\n",
    [](const std::vector<std::string>& argv) {
      const TrainOptions o = parse_train_options(argv);
      return run_with_ranks(o.dist_timeout, [&](dist::Communicator* comm) { return train(o, comm); });
    }};

}  // namespace torchless::cli
