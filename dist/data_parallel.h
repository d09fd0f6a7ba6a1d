#pragma once
// Data-parallel training over a Communicator, DistributedDataParallel's
// semantics for the tutorials' loop (optim/train_loop.h):
//  - every rank draws the epoch's permutation from the same generator, and
//    rank r of W trains on positions r, r+W, r+2W, ... of each global batch
//    (DistributedSampler's split; the last, partial batch is split the same
//    way, so a rank may get one item fewer, or none);
//  - one all-reduce per step sums the gradients, each rank's scaled by
//    (its items / the batch's items), which is the gradient of the
//    cross-entropy mean over the global batch, as one process computes it;
//  - dropout draws from a per-rank stream seeded from the shared generator
//    and the rank, so masks differ between ranks and a run is reproducible;
//  - validation is split by batches and its sums reduced so that the loss
//    and accuracy equal a single process's bit for bit.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "dist/communicator.h"
#include "dist/test_fault.h"
#include "io/fashion_mnist.h"
#include "nn/module.h"
#include "optim/adam.h"
#include "optim/train_loop.h"

namespace torchless {
class Generator;
}

namespace torchless::dist {

/// Throws std::invalid_argument unless `batch_size` splits evenly over
/// `world` ranks (each rank takes batch_size / world items of every full batch).
void check_global_batch(int64_t batch_size, int world);

/// How many of a global batch's `b` items rank `rank` of `world` takes.
inline int64_t shard_count(int64_t b, int rank, int world) {
  return b > rank ? (b - rank + world - 1) / world : 0;
}

/// The seed of rank `rank`'s dropout stream for an epoch that starts (after
/// its permutation) with the shared generator state whose fingerprint is `epoch_key`.
uint64_t rank_stream_seed(uint64_t epoch_key, int rank);

/// One contiguous float32 buffer for the gradients of every parameter that
/// requires grad (plus one slot for the loss), allocated once: a step packs,
/// all-reduces and unpacks in place.
class GradientBucket {
 public:
  /// Takes the parameters with requires_grad set, in order. Throws
  /// std::invalid_argument if one is not float32.
  explicit GradientBucket(const std::vector<Tensor>& params);
  /// Packs each gradient x `scale` (zeros for a parameter without one) and
  /// `loss`, sums over ranks, and writes the sums back as the gradients
  /// (creating them where missing). Returns the summed loss. Throws CommError.
  double all_reduce(Communicator& comm, float scale, double loss);
  /// Floats all-reduced per step (gradients + the loss).
  size_t size() const { return buf_.size(); }
  /// Steps reduced so far (what TestFault counts).
  int64_t steps() const { return steps_; }
  /// Wall seconds spent in the all-reduce so far, waiting for slower ranks included.
  double reduce_seconds() const { return reduce_seconds_; }

 private:
  std::vector<Tensor> params_;
  std::vector<float> buf_;
  int64_t steps_ = 0;
  double reduce_seconds_ = 0;
  TestFault fault_;
};

/// One data-parallel epoch over `data` (the whole set, the same on every
/// rank) with global batches of `batch_size` (check_global_batch). `gen`
/// must be the generator the model's dropout draws from; it is the same on
/// every rank before and after (one permutation drawn per epoch, as one
/// process draws it), and holds this rank's dropout stream in between. Stats are
/// global: loss averaged over all ranks' items, samples/s of the whole job.
/// Throws CommError when a collective fails.
optim::EpochStats train_epoch(Communicator& comm, nn::Module& model, optim::Adam& opt, GradientBucket& bucket,
                              const io::Dataset& data, int64_t batch_size, Generator& gen,
                              const optim::BatchCallback& on_batch = {});

/// optim::evaluate's result, identical to one process's: rank r evaluates
/// batches r, r+W, ..., and the per-batch sums and counts are reduced
/// (each batch's loss comes from one rank, so the sum is exact). Collective.
optim::EvalStats evaluate(Communicator& comm, nn::Module& model, const io::Dataset& data, int64_t classes = 10,
                          int64_t batch_size = 1000);

/// Makes every rank's parameters, buffers and Adam state rank 0's. The ranks
/// must hold the same structure (same tensors defined, same sizes: checked
/// beforehand by check_agreement). Throws CommError.
void broadcast_training_state(Communicator& comm, nn::Module& model, optim::Adam& opt);

}  // namespace torchless::dist
