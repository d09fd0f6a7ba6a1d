#pragma once
// nn.Conv2d, with torch's hyper-parameters and state_dict keys (weight
// [out, in/groups, kH, kW], bias [out]).
#include <array>
#include <memory>
#include <string>

#include "nn/module.h"

namespace torchless {
class Generator;
}

namespace torchless::nn {

class Conv2d : public Module {
 public:
  using Pair = std::array<int64_t, 2>;
  /// padding_mode must be "zeros" (the others are not implemented). Throws
  /// std::invalid_argument naming the argument: channels not positive or not
  /// divisible by groups, kernel/stride/dilation below 1, negative padding.
  /// Initialised like torch: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  /// fan_in = in_channels/groups * kH * kW.
  Conv2d(int64_t in_channels, int64_t out_channels, Pair kernel_size, Pair stride = {1, 1}, Pair padding = {0, 0},
         Pair dilation = {1, 1}, int64_t groups = 1, bool bias = true, const std::string& padding_mode = "zeros",
         Generator* gen = nullptr);
  /// padding "same" (stride 1 only; the dilated kernel's extent must be even,
  /// so that it pads equally on both sides) or "valid" (no padding).
  static std::shared_ptr<Conv2d> with_padding(int64_t in_channels, int64_t out_channels, Pair kernel_size,
                                              Pair stride, const std::string& padding, Pair dilation = {1, 1},
                                              int64_t groups = 1, bool bias = true,
                                              const std::string& padding_mode = "zeros", Generator* gen = nullptr);
  /// x: [N, in_channels, H, W] (or [in_channels, H, W]) -> [N, out_channels, OH, OW].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  void reset_parameters(Generator* gen = nullptr);

  Tensor weight, bias;  ///< bias undefined when built without one
  int64_t in_channels, out_channels;
  Pair kernel_size, stride, padding, dilation;
  int64_t groups;
  std::string padding_mode;
  std::string padding_string;  ///< "same" or "valid" when built from one, else ""
};

}  // namespace torchless::nn
