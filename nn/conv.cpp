#include "nn/conv.h"

#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "nn/functional.h"

namespace torchless::nn {
namespace {

std::string pair_str(Conv2d::Pair p) { return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")"; }

Conv2d::Pair padding_of(const std::string& padding, Conv2d::Pair kernel, Conv2d::Pair stride, Conv2d::Pair dilation) {
  if (padding == "valid") return {0, 0};
  if (padding != "same")
    throw std::invalid_argument("Conv2d: padding must be an int, a pair, 'same' or 'valid', got '" + padding + "'");
  if (stride[0] != 1 || stride[1] != 1)
    throw std::invalid_argument("Conv2d: padding='same' is not supported for strided convolutions (stride " +
                                pair_str(stride) + ")");
  Conv2d::Pair p{};
  for (int i = 0; i < 2; ++i) {
    const int64_t total = dilation[i] * (kernel[i] - 1);
    if (total % 2 != 0)
      throw std::invalid_argument("Conv2d: padding='same' with kernel " + pair_str(kernel) + " and dilation " +
                                  pair_str(dilation) + " pads unequally on the two sides, which torchless does not do");
    p[i] = total / 2;
  }
  return p;
}

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, Pair k, Pair s, Pair p, Pair d, int64_t g, bool with_bias,
               const std::string& mode, Generator* gen)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g),
      padding_mode(mode) {
  if (in <= 0 || out <= 0)
    throw std::invalid_argument("Conv2d: channels must be positive, got in_channels=" + std::to_string(in) +
                                " out_channels=" + std::to_string(out));
  if (g <= 0) throw std::invalid_argument("Conv2d: groups must be positive, got " + std::to_string(g));
  if (in % g != 0) throw std::invalid_argument("Conv2d: in_channels (" + std::to_string(in) + ") must be divisible by groups (" + std::to_string(g) + ")");
  if (out % g != 0) throw std::invalid_argument("Conv2d: out_channels (" + std::to_string(out) + ") must be divisible by groups (" + std::to_string(g) + ")");
  for (int i = 0; i < 2; ++i) {
    if (k[i] < 1) throw std::invalid_argument("Conv2d: kernel_size must be positive, got " + pair_str(k));
    if (s[i] < 1) throw std::invalid_argument("Conv2d: stride must be positive, got " + pair_str(s));
    if (d[i] < 1) throw std::invalid_argument("Conv2d: dilation must be positive, got " + pair_str(d));
    if (p[i] < 0) throw std::invalid_argument("Conv2d: padding must not be negative, got " + pair_str(p));
  }
  if (mode != "zeros")
    throw std::invalid_argument("Conv2d: padding_mode '" + mode + "' is not supported (only 'zeros')");
  weight = register_parameter("weight", empty({out, in / g, k[0], k[1]}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters(gen);
}

std::shared_ptr<Conv2d> Conv2d::with_padding(int64_t in, int64_t out, Pair k, Pair s, const std::string& p, Pair d,
                                             int64_t g, bool with_bias, const std::string& mode, Generator* gen) {
  auto conv = std::make_shared<Conv2d>(in, out, k, s, padding_of(p, k, s, d), d, g, with_bias, mode, gen);
  conv->padding_string = p;
  return conv;
}

void Conv2d::reset_parameters(Generator* gen) {
  NoGradGuard no_grad;
  const double fan_in = static_cast<double>(in_channels / groups * kernel_size[0] * kernel_size[1]);
  const double bound = 1.0 / std::sqrt(fan_in);
  Tensor w = weight.detach();
  uniform_(w, -bound, bound, gen);
  if (bias.defined()) {
    Tensor b = bias.detach();
    uniform_(b, -bound, bound, gen);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  if ((x.dim() == 4 || x.dim() == 3) && x.size(-3) != in_channels)
    throw std::invalid_argument("Conv2d: expected an input with " + std::to_string(in_channels) +
                                " channels (dim " + std::to_string(x.dim() - 3) + "), got " + shape_str(x.sizes()));
  return functional::conv2d(x, weight, bias, stride, padding, dilation, groups);
}

}  // namespace torchless::nn
