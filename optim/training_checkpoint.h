#pragma once
// The tutorials' training checkpoint, as a torch-loadable dict:
//   {'epoch', 'valid_loss_min', 'state_dict', 'optimizer',
//    'rng_state' (uint8 tensor: torchless's generator), 'hparams' (dict; its
//    'model_spec' names a --model architecture),
//    'train_loss', 'valid_loss', 'valid_accuracy'}
// A Python user reads it with torch.load (weights_only=True included) and
// resumes with model.load_state_dict(ck['state_dict']) and
// optimizer.load_state_dict(ck['optimizer']).
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/generator.h"
#include "io/value.h"
#include "nn/module.h"
#include "optim/adam.h"

namespace torchless::optim {

struct HyperParams {
  double lr = 1e-3;
  int64_t batch_size = 64;
  double dropout = 0.2;
  int64_t seed = 0;
  std::string validation = "split";
  std::vector<std::string> frozen;  ///< module names whose parameters are frozen ("fc1")
  /// The model's spec (nn/model_spec.h); "" for the FashionClassifier.
  std::string model_spec;
};

struct TrainingState {
  int64_t epoch = 0;                  ///< last completed epoch (1-based)
  double valid_loss_min = std::numeric_limits<double>::infinity();
  double train_loss = std::numeric_limits<double>::quiet_NaN();
  double valid_loss = std::numeric_limits<double>::quiet_NaN();
  double valid_accuracy = std::numeric_limits<double>::quiet_NaN();
  HyperParams hparams;
  std::optional<std::string> rng_state;  ///< Generator::get_state(); absent in Python-written files
};

/// The recipe stored under a checkpoint's 'hparams', each entry that is
/// present (and not None) replacing the one in `defaults` (Python-written
/// checkpoints have none). Checks types, not ranges: throws
/// std::invalid_argument naming the entry ("checkpoint: hparams 'lr': expected
/// a number, got str").
HyperParams read_hparams(const io::ValuePtr& ck, HyperParams defaults = {});

/// Everything load_training_checkpoint reads except the weights and the
/// optimizer state, without a model: the entries are there and of the right
/// kind, the epoch is not negative, 'rng_state' is a generator state.
/// Throws std::invalid_argument naming the entry.
TrainingState read_training_state(const io::ValuePtr& ck);

/// Builds the checkpoint dict.
io::ValuePtr make_training_checkpoint(const TrainingState& st, const nn::Module& model, const Adam& opt);

/// Reads what make_training_checkpoint wrote — or a tutorial checkpoint
/// written by Python ({epoch, valid_loss_min, state_dict, optimizer}) —
/// loading weights and optimizer state. A 'module.' prefix on every key is
/// stripped (*prefix_note says so). Throws std::invalid_argument naming the
/// missing or malformed entry; a failed load leaves model and optimizer as they were.
TrainingState load_training_checkpoint(const io::ValuePtr& ck, nn::Module& model, Adam& opt,
                                       std::string* prefix_note = nullptr);

/// Sets requires_grad=false on every parameter whose name is one of
/// `modules` or starts with one of them and a '.' ("fc1" freezes fc1.weight
/// and fc1.bias, "layer1" every parameter under layer1, "layer1.0.weight" that
/// one). Works on any model. Throws std::invalid_argument naming a prefix
/// that matches nothing (and the modules there are).
void freeze(nn::Module& model, const std::vector<std::string>& modules);

}  // namespace torchless::optim
