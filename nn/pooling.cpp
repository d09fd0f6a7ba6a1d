#include "nn/pooling.h"

#include <stdexcept>

#include "nn/functional.h"

namespace torchless::nn {
namespace {

void check_positive(const char* layer, const char* what, Pair p) {
  if (p[0] < 1 || p[1] < 1)
    throw std::invalid_argument(std::string(layer) + ": " + what + " must be positive, got (" + std::to_string(p[0]) +
                                ", " + std::to_string(p[1]) + ")");
}

void check_padding(const char* layer, Pair padding, Pair kernel) {
  for (int i = 0; i < 2; ++i)
    if (padding[i] < 0 || padding[i] > kernel[i] / 2)
      throw std::invalid_argument(std::string(layer) + ": padding (" + std::to_string(padding[0]) + ", " +
                                  std::to_string(padding[1]) + ") must be between 0 and half the kernel size");
}

}  // namespace

MaxPool2d::MaxPool2d(Pair k, std::optional<Pair> s, Pair p, Pair d, bool ceil)
    : kernel_size(k), stride(s.value_or(k)), padding(p), dilation(d), ceil_mode(ceil) {
  check_positive("MaxPool2d", "kernel_size", kernel_size);
  check_positive("MaxPool2d", "stride", stride);
  check_positive("MaxPool2d", "dilation", dilation);
  check_padding("MaxPool2d", padding, kernel_size);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return functional::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

AvgPool2d::AvgPool2d(Pair k, std::optional<Pair> s, Pair p, bool ceil, bool include_pad, int64_t divisor)
    : kernel_size(k), stride(s.value_or(k)), padding(p), ceil_mode(ceil), count_include_pad(include_pad),
      divisor_override(divisor) {
  check_positive("AvgPool2d", "kernel_size", kernel_size);
  check_positive("AvgPool2d", "stride", stride);
  check_padding("AvgPool2d", padding, kernel_size);
  if (divisor < 0) throw std::invalid_argument("AvgPool2d: divisor_override must be positive, got " + std::to_string(divisor));
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return functional::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::array<std::optional<int64_t>, 2> size) : output_size(size) {
  for (const auto& s : size)
    if (s && *s < 1)
      throw std::invalid_argument("AdaptiveAvgPool2d: output_size must be positive, got " + std::to_string(*s));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  if (x.dim() != 3 && x.dim() != 4)
    throw std::invalid_argument("AdaptiveAvgPool2d: expected a 3-D or 4-D input, got " + shape_str(x.sizes()));
  return functional::adaptive_avg_pool2d(x, {output_size[0].value_or(x.size(-2)), output_size[1].value_or(x.size(-1))});
}

}  // namespace torchless::nn
