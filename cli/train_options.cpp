#include "cli/train_options.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/device.h"
#include "core/generator.h"
#include "io/idx.h"
#include "cli/model_choice.h"
#include "nn/model_spec.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {
namespace {

namespace fs = std::filesystem;

// The flags' ranges, also applied to the hyper-parameters a resumed checkpoint carries.
constexpr int64_t kMaxBatch = int64_t{1} << 20;
constexpr double kMaxLr = 1e3;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string fmt(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::optional<int64_t> int_flag(const Args& args, const char* flag, int64_t min, int64_t max) {
  if (!args.has(flag)) return std::nullopt;
  return args.integer(flag, 0, min, max);
}

std::optional<double> real_flag(const Args& args, const char* flag, double min, double max) {
  if (!args.has(flag)) return std::nullopt;
  return args.real(flag, 0, min, max);
}

// Why freezing `modules` leaves nothing sensible to train ("" when it does
// not): an unknown module, or every parameter frozen, which would otherwise
// fail only at the first backward().
std::string freeze_problem(const std::vector<std::string>& modules, const std::string& spec) {
  Generator g;
  const std::shared_ptr<nn::Module> model = make_model(spec, 0.0, &g);
  nn::Module& probe = *model;
  try {
    optim::freeze(probe, modules);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.rfind("freeze: ", 0) == 0) what.erase(0, 8);
    return what;
  }
  for (const auto& [name, t] : probe.named_parameters())
    if (t.requires_grad()) return "";
  return "every parameter is frozen: nothing to train";
}

// Two spellings of one file ("ck/a.pt", "./ck/../ck/a.pt"), existing or not.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  const fs::path ca = fs::weakly_canonical(a, ea), cb = fs::weakly_canonical(b, eb);
  if (ea || eb) return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
  return ca == cb;
}

}  // namespace

std::string join_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

TrainOptions parse_train_options(const std::vector<std::string>& argv) {
  TrainOptions o;
  Args args(argv,
            {"--data", "--epochs", "--batch-size", "--lr", "--dropout", "--seed", "--threads", "--device",
             "--validation", "--warmup-epochs", "--checkpoint-dir", "--checkpoint", "--resume", "--init", "--freeze",
             "--metrics", "--train-size", "--valid-size", "--model", "--dist-timeout"},
            {"--non-strict", "--no-checkpoints", "--flush-denormal"});
  if (!args.positional().empty()) throw UsageError("unexpected argument '" + args.positional()[0] + "'");
  if (args.has("--resume") && args.has("--init")) throw UsageError("--resume and --init cannot be combined");

  // Every flag is checked before any file is read, so a bad one is always a
  // usage error. "" is no path ("--checkpoint-dir ''" would write to /).
  const auto path_flag = [&](const char* flag, const std::string& def) {
    const std::string v = args.str(flag, def);
    if (args.has(flag) && v.empty()) throw UsageError(std::string(flag) + " needs a path, got ''");
    return v;
  };
  o.data_dir = path_flag("--data", io::default_fashion_mnist_dir());
  o.epochs = args.integer("--epochs", 3, 0, 1000000);
  o.batch_size = int_flag(args, "--batch-size", 1, kMaxBatch);
  o.lr = real_flag(args, "--lr", 0, kMaxLr);
  o.dropout = real_flag(args, "--dropout", 0, 1);
  o.seed = int_flag(args, "--seed", 0, INT64_MAX);
  o.validation = args.opt("--validation");
  if (o.validation && *o.validation != "split" && *o.validation != "test")
    throw UsageError("--validation must be 'split' or 'test', got '" + *o.validation + "'");
  if (auto m = args.opt("--model")) o.model_spec = read_model_flag(*m);
  if (o.model_spec && o.dropout)
    throw UsageError("--dropout sets the FashionClassifier's dropout; with --model, put Dropout(p) layers in the spec");
  if (auto f = args.opt("--freeze")) {
    o.freeze = split_list(*f);
    // With --resume and no --model the architecture is the checkpoint's, checked by resolve_recipe.
    if (o.model_spec || !args.has("--resume"))
      if (const std::string why = freeze_problem(*o.freeze, o.model_spec.value_or("")); !why.empty())
        throw UsageError("--freeze " + *f + ": " + why);
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  o.threads = args.integer("--threads", hw, 1, 1024);
  o.warmup = args.integer("--warmup-epochs", 0, 0, 1000);
  o.train_size = args.integer("--train-size", 0, 0, INT64_MAX);
  o.valid_size = args.integer("--valid-size", 0, 0, INT64_MAX);
  o.device = args.str("--device", "cpu");
  (void)device_flag(o.device);
  o.save_checkpoints = !args.has("--no-checkpoints");
  o.flush_denormal = args.has("--flush-denormal");
  o.ck_dir = path_flag("--checkpoint-dir", "checkpoints");
  o.latest_path = path_flag("--checkpoint", o.ck_dir + "/current_checkpoint.pt");
  o.best_path = o.ck_dir + "/best_model.pt";
  o.metrics_path = path_flag("--metrics", "");
  if (args.has("--resume")) o.resume_path = path_flag("--resume", "");
  if (args.has("--init")) o.init_path = path_flag("--init", "");
  o.strict_init = !args.has("--non-strict");
  o.dist_timeout = args.real("--dist-timeout", 300, 0.001, 86400);
  if (o.save_checkpoints && same_file(o.latest_path, o.best_path))
    throw UsageError("--checkpoint " + o.latest_path + " is where the best model goes too (--checkpoint-dir " + o.ck_dir +
                     "): each epoch would overwrite it");
  if (!o.metrics_path.empty() && o.save_checkpoints &&
      (same_file(o.metrics_path, o.latest_path) || same_file(o.metrics_path, o.best_path)))
    throw UsageError("--metrics " + o.metrics_path + " is a checkpoint's path too");
  return o;
}

optim::HyperParams resolve_recipe(const TrainOptions& o, const optim::HyperParams* saved, const std::string& resume_path) {
  optim::HyperParams hp;
  if (saved) {
    hp = *saved;
  const auto refuse = [&](const char* field, const std::string& value, const std::string& must, const char* flag) {
    throw std::runtime_error("--resume " + resume_path + ": hparams '" + field + "' is " + value + ": " + must +
                             " (pass " + flag + " to override it)");
  };
  if (!o.batch_size && (hp.batch_size < 1 || hp.batch_size > kMaxBatch))
    refuse("batch_size", std::to_string(hp.batch_size), "it must be between 1 and " + std::to_string(kMaxBatch),
           "--batch-size");
  if (!o.lr && !(hp.lr >= 0 && hp.lr <= kMaxLr))
    refuse("lr", fmt(hp.lr), "it must be between 0 and " + fmt(kMaxLr), "--lr");
  if (!o.dropout && !(hp.dropout >= 0 && hp.dropout <= 1))
    refuse("dropout", fmt(hp.dropout), "it must be between 0 and 1", "--dropout");
  if (!o.seed && hp.seed < 0) refuse("seed", std::to_string(hp.seed), "it must not be negative", "--seed");
  if (!o.validation && hp.validation != "split" && hp.validation != "test")
    refuse("validation", "'" + hp.validation + "'", "it must be 'split' or 'test'", "--validation");
  if (!o.model_spec && !hp.model_spec.empty()) {
    try {
      nn::parse_model_spec(hp.model_spec);
    } catch (const std::invalid_argument& e) {
      refuse("model_spec", "'" + hp.model_spec + "'", e.what(), "--model");
    }
  }
  const std::string spec = o.model_spec.value_or(hp.model_spec);
  if (const std::string why = freeze_problem(o.freeze.value_or(hp.frozen), spec); !why.empty()) {
    if (o.freeze) throw UsageError("--freeze " + join_list(*o.freeze) + ": " + why);
    refuse("frozen", "[" + join_list(hp.frozen) + "]", why, "--freeze");
  }
  }
  hp.batch_size = o.batch_size.value_or(hp.batch_size);
  hp.lr = o.lr.value_or(hp.lr);
  hp.dropout = o.dropout.value_or(hp.dropout);
  hp.seed = o.seed.value_or(hp.seed);
  hp.validation = o.validation.value_or(hp.validation);
  if (o.freeze) hp.frozen = *o.freeze;
  if (o.model_spec) hp.model_spec = *o.model_spec;
  return hp;
}

}  // namespace torchless::cli
