#pragma once
// Layers that only reshape or pass their input on: nn.Flatten, nn.Identity.
#include "nn/module.h"

namespace torchless::nn {

/// Flattens dims start_dim..end_dim into one (torch's defaults 1, -1: a
/// batch of anything to [N, features]).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  /// Throws std::invalid_argument when the dims are out of range or out of order for x.
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
  int64_t start_dim, end_dim;
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace torchless::nn
