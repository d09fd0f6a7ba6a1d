#include "nn/shape_layers.h"

#include <stdexcept>

namespace torchless::nn {

Tensor Flatten::forward(const Tensor& x) {
  const int64_t n = std::max<int64_t>(x.dim(), 1);
  const int64_t s = start_dim < 0 ? start_dim + n : start_dim, e = end_dim < 0 ? end_dim + n : end_dim;
  if (s < 0 || s >= n || e < 0 || e >= n || s > e)
    throw std::invalid_argument("Flatten: start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim) +
                                " do not fit an input " + shape_str(x.sizes()));
  return x.flatten(s, e);
}

}  // namespace torchless::nn
