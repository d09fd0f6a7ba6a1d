#pragma once
#include "nn/module.h"

namespace torchless {
class Generator;
}

namespace torchless::nn {

/// y = x @ weight^T + bias.  x: [B, in]  weight: [out, in]  bias: [out].
/// Initialised like PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))
/// (kaiming_uniform with a = sqrt(5) reduces to that bound).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  /// Re-draws weight and bias from PyTorch's default distribution.
  void reset_parameters(Generator* gen = nullptr);

  Tensor weight;
  Tensor bias;  ///< undefined when built with bias = false
  int64_t in_features, out_features;
};

}  // namespace torchless::nn
