#pragma once
// Argument checks shared by the image ops (conv2d and the poolings).
#include <array>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace torchless::nn::functional::detail {

/// "(a, b)", as torch prints a pair of sizes.
std::string pair_str(std::array<int64_t, 2> p);

/// Throws std::invalid_argument, naming `op` and the shape, unless x is a
/// 3-D [C, H, W] or 4-D [N, C, H, W] tensor on the CPU.
void check_image(const Tensor& x, const char* op);

}  // namespace torchless::nn::functional::detail
