#pragma once
// nn.BatchNorm1d / nn.BatchNorm2d with torch's parameters (weight, bias),
// buffers (running_mean, running_var, num_batches_tracked) and momentum
// semantics: in training the batch's statistics normalise and update the
// running ones; in eval the running ones normalise.
#include <optional>

#include "nn/module.h"

namespace torchless::nn {

class BatchNorm : public Module {
 public:
  /// momentum unset: the running statistics are the cumulative average over
  /// every batch seen (factor 1/num_batches_tracked), as torch's momentum=None.
  /// Throws std::invalid_argument on num_features < 1, eps <= 0 or momentum
  /// outside [0, 1].
  BatchNorm(int spatial_dims, int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
            bool affine = true, bool track_running_stats = true);
  /// BatchNorm1d: [N, C] or [N, C, L]; BatchNorm2d: [N, C, H, W].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return spatial_dims_ == 1 ? "BatchNorm1d" : "BatchNorm2d"; }

  Tensor weight, bias;                                  ///< undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  ///< undefined without track_running_stats
  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;

 private:
  int spatial_dims_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(1, num_features, eps, momentum, affine, track_running_stats) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNorm(2, num_features, eps, momentum, affine, track_running_stats) {}
};

}  // namespace torchless::nn
