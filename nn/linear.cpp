#include "nn/linear.h"

#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "core/ops.h"

namespace torchless::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* gen) : in_features(in), out_features(out) {
  if (in <= 0 || out <= 0)
    throw std::invalid_argument("Linear: features must be positive, got in=" + std::to_string(in) +
                                " out=" + std::to_string(out));
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) {
  NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  Tensor w = weight.detach();
  uniform_(w, -bound, bound, gen);
  if (bias.defined()) {
    Tensor b = bias.detach();
    uniform_(b, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

}  // namespace torchless::nn
