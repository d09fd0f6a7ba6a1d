#include "nn/activation.h"

#include <stdexcept>

#include "nn/functional.h"

namespace torchless::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Dropout::Dropout(double p_, Generator* gen) : p(p_), gen_(gen) {
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument("Dropout: probability has to be between 0 and 1, got " + std::to_string(p));
}

Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, p, is_training(), gen_); }
Tensor Dropout::forward_relu(const Tensor& x) { return functional::dropout_relu(x, p, is_training(), gen_); }

}  // namespace torchless::nn
