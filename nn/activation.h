#pragma once
// Parameter-free layers: activations, softmax and Dropout.
#include <optional>
#include <string>

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

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Tanh"; }
};

class GELU : public Module {
 public:
  /// approximate: "none" or "tanh"; throws std::invalid_argument otherwise.
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "GELU"; }
  std::string approximate;
};

/// Softmax / LogSoftmax along `dim`. An unset dim is torch's legacy implicit
/// choice: 0 for 0-, 1- and 3-D inputs, 1 otherwise.
class Softmax : public Module {
 public:
  explicit Softmax(std::optional<int64_t> dim = std::nullopt) : dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Softmax"; }
  std::optional<int64_t> dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(std::optional<int64_t> dim = std::nullopt) : dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LogSoftmax"; }
  std::optional<int64_t> dim;
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
