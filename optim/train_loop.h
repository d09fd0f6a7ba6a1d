#pragma once
// The tutorials' training loop as two functions: one epoch of minibatch Adam
// on cross-entropy, and an evaluation pass (eval mode, no graph).
#include <functional>

#include "io/fashion_mnist.h"
#include "nn/module.h"
#include "optim/adam.h"

namespace torchless {
class Generator;
}

namespace torchless::optim {

struct EpochStats {
  double loss = 0;            ///< mean training loss over the epoch's samples
  double seconds = 0;         ///< wall time of the loop alone
  double samples_per_s = 0;
};

struct EvalStats {
  double loss = 0;       ///< mean cross-entropy
  double accuracy = 0;   ///< fraction correct
  std::vector<int64_t> confusion;  ///< classes x classes, row = true label
  int64_t classes = 0;
};

/// Called after each batch with (samples done, running mean loss, samples/s).
using BatchCallback = std::function<void(int64_t, double, double)>;

/// One pass over `data` in an order drawn from `gen` (randperm), batches of
/// `batch_size` (the last one smaller), in training mode.
EpochStats train_epoch(nn::Module& model, Adam& opt, const io::Dataset& data, int64_t batch_size, Generator& gen,
                       const BatchCallback& on_batch = {});

/// Loss and accuracy over `data` in eval mode (restores the previous mode).
EvalStats evaluate(nn::Module& model, const io::Dataset& data, int64_t classes = 10, int64_t batch_size = 1000);

/// One batch of an evaluation pass (eval mode and no-grad are the caller's):
/// returns its mean cross-entropy times its size, adds its correct
/// predictions to `correct` and its counts to `confusion` (classes x classes).
/// evaluate() is these summed in batch order, so a pass split over
/// processes can reproduce it exactly (dist::evaluate).
double evaluate_batch(nn::Module& model, const io::Dataset& batch, int64_t classes, int64_t& correct,
                      std::vector<int64_t>& confusion);

/// Copies rows `index[0..n)` of `src` into a new contiguous tensor.
Tensor gather_rows(const Tensor& src, const int64_t* index, int64_t n);

}  // namespace torchless::optim
