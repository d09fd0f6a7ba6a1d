#include "nn/activation.h"

#include <stdexcept>

#include "nn/functional.h"

namespace torchless::nn {

namespace {
// torch's _get_softmax_dim for a Softmax built without dim.
int64_t implicit_dim(std::optional<int64_t> dim, int64_t ndim) {
  if (dim) return *dim;
  return ndim == 0 || ndim == 1 || ndim == 3 ? 0 : 1;
}
}  // namespace

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

GELU::GELU(std::string a) : approximate(std::move(a)) {
  if (approximate != "none" && approximate != "tanh")
    throw std::invalid_argument("GELU: approximate must be 'none' or 'tanh', got '" + approximate + "'");
}
Tensor GELU::forward(const Tensor& x) { return functional::gelu(x, approximate); }

Tensor Softmax::forward(const Tensor& x) { return functional::softmax(x, implicit_dim(dim, x.dim())); }
Tensor LogSoftmax::forward(const Tensor& x) { return functional::log_softmax(x, implicit_dim(dim, x.dim())); }

Dropout::Dropout(double p_, Generator* gen) : p(p_), gen_(gen) {
  if (!(p >= 0.0 && p <= 1.0))
    throw std::invalid_argument("Dropout: probability has to be between 0 and 1, got " + std::to_string(p));
}

Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, p, is_training(), gen_); }
Tensor Dropout::forward_relu(const Tensor& x) { return functional::dropout_relu(x, p, is_training(), gen_); }

}  // namespace torchless::nn
