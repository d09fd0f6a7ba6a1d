#include "nn/functional_args.h"

#include <stdexcept>

namespace torchless::nn::functional::detail {

std::string pair_str(std::array<int64_t, 2> p) { return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")"; }

void check_image(const Tensor& x, const char* op) {
  if (x.dim() != 3 && x.dim() != 4)
    throw std::invalid_argument(std::string(op) + ": expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got " +
                                shape_str(x.sizes()));
  if (!x.device().is_cpu()) throw std::invalid_argument(std::string(op) + ": CUDA tensors need the CUDA backend");
}

}  // namespace torchless::nn::functional::detail
