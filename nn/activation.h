#pragma once
// Parameter-free layers: ReLU and Dropout.
#include "nn/module.h"

namespace torchless {
class Generator;
}

namespace torchless::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

/// Inverted dropout while training, identity in eval mode.
class Dropout : public Module {
 public:
  /// Throws std::invalid_argument if p is outside [0, 1].
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  /// forward(relu(x)), fused (functional::dropout_relu).
  Tensor forward_relu(const Tensor& x);
  std::string type_name() const override { return "Dropout"; }
  double p;

 private:
  Generator* gen_;
};

}  // namespace torchless::nn
