#include "nn/batchnorm.h"

#include <stdexcept>

#include "core/autograd.h"
#include "nn/functional.h"

namespace torchless::nn {

BatchNorm::BatchNorm(int spatial_dims, int64_t n, double e, std::optional<double> m, bool aff, bool track)
    : num_features(n), eps(e), momentum(m), affine(aff), track_running_stats(track), spatial_dims_(spatial_dims) {
  const std::string name = type_name();
  if (n < 1) throw std::invalid_argument(name + ": num_features must be positive, got " + std::to_string(n));
  if (!(e > 0)) throw std::invalid_argument(name + ": eps must be positive, got " + std::to_string(e));
  if (m && !(*m >= 0 && *m <= 1))
    throw std::invalid_argument(name + ": momentum must be between 0 and 1 (or None), got " + std::to_string(*m));
  if (affine) {
    weight = register_parameter("weight", ones({n}));
    bias = register_parameter("bias", zeros({n}));
  }
  if (track) {
    running_mean = register_buffer("running_mean", zeros({n}));
    running_var = register_buffer("running_var", ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::Int64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  const std::string name = type_name();
  const bool ok = spatial_dims_ == 1 ? (x.dim() == 2 || x.dim() == 3) : x.dim() == 4;
  if (!ok)
    throw std::invalid_argument(name + ": expected " + (spatial_dims_ == 1 ? "a 2-D or 3-D" : "a 4-D") +
                                " input, got " + shape_str(x.sizes()));
  if (x.size(1) != num_features)
    throw std::invalid_argument(name + ": expected " + std::to_string(num_features) + " channels (dim 1), got input " +
                                shape_str(x.sizes()));
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    NoGradGuard no_grad;
    const int64_t seen = static_cast<int64_t>(num_batches_tracked.item()) + 1;
    Tensor(num_batches_tracked).fill_(static_cast<double>(seen));
    if (!momentum) factor = 1.0 / static_cast<double>(seen);
  }
  // Without running statistics the batch's are used in eval mode too.
  const bool use_batch = is_training() || !track_running_stats;
  return functional::batch_norm(x, use_batch && !is_training() ? Tensor() : running_mean,
                                use_batch && !is_training() ? Tensor() : running_var, weight, bias, use_batch, factor,
                                eps);
}

}  // namespace torchless::nn
