#pragma once
// `torchless train`'s flags, all checked before any file is read, and the
// training recipe they give together with a resumed checkpoint's.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "optim/training_checkpoint.h"

namespace torchless::cli {

struct TrainOptions {
  std::string data_dir;
  int64_t epochs = 3;  ///< the last epoch to train
  int64_t threads = 1, warmup = 0, train_size = 0, valid_size = 0;
  std::string device = "cpu";
  bool save_checkpoints = true;
  bool flush_denormal = false;  ///< --flush-denormal: denormal floats become zero (speed on Intel cores)
  std::string ck_dir, latest_path, best_path, metrics_path;
  std::optional<std::string> resume_path, init_path;
  bool strict_init = true;
  double dist_timeout = 300;  ///< --dist-timeout: seconds a collective may wait under mpirun
  // The recipe's flags; unset ones come from the resumed checkpoint, or the defaults.
  std::optional<int64_t> batch_size, seed;
  std::optional<double> lr, dropout;
  std::optional<std::string> validation;
  std::optional<std::vector<std::string>> freeze;
  std::optional<std::string> model_spec;  ///< --model: the spec's text (an @FILE already read)
};

/// Parses and range-checks every flag (paths must not be empty, --freeze must
/// leave something to train, --device must be one this build trains on, the
/// latest checkpoint, the best one and the metrics file must be three
/// files, --model must parse). Reads no file but the spec of a --model
/// @FILE. Throws UsageError.
TrainOptions parse_train_options(const std::vector<std::string>& argv);

/// The recipe to train with: `saved` (a resumed checkpoint's hparams, or null
/// for the defaults) overridden by the flags given. What is taken from
/// `saved` gets the flags' checks; throws std::runtime_error naming
/// "--resume resume_path", the entry and the flag that would override it.
optim::HyperParams resolve_recipe(const TrainOptions& o, const optim::HyperParams* saved,
                                  const std::string& resume_path);

/// "a,b,c".
std::string join_list(const std::vector<std::string>& v);

}  // namespace torchless::cli
