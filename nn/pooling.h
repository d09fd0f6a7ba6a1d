#pragma once
// nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d (no parameters), with
// torch's hyper-parameters; see nn/functional.h for the computation.
#include <array>
#include <optional>

#include "nn/module.h"

namespace torchless::nn {

using Pair = std::array<int64_t, 2>;

class MaxPool2d : public Module {
 public:
  /// stride defaults to kernel_size (torch's stride=None). Throws
  /// std::invalid_argument on non-positive sizes or padding over half the kernel.
  explicit MaxPool2d(Pair kernel_size, std::optional<Pair> stride = std::nullopt, Pair padding = {0, 0},
                     Pair dilation = {1, 1}, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  Pair kernel_size, stride, padding, dilation;
  bool ceil_mode;
};

class AvgPool2d : public Module {
 public:
  /// stride defaults to kernel_size; divisor_override 0 means none.
  explicit AvgPool2d(Pair kernel_size, std::optional<Pair> stride = std::nullopt, Pair padding = {0, 0},
                     bool ceil_mode = false, bool count_include_pad = true, int64_t divisor_override = 0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  Pair kernel_size, stride, padding;
  bool ceil_mode, count_include_pad;
  int64_t divisor_override;
};

class AdaptiveAvgPool2d : public Module {
 public:
  /// An unset size keeps the input's (torch's None). Throws on sizes below 1.
  explicit AdaptiveAvgPool2d(std::array<std::optional<int64_t>, 2> output_size);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::array<std::optional<int64_t>, 2> output_size;
};

}  // namespace torchless::nn
