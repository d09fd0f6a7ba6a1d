#pragma once
#include "core/tensor.h"

namespace torchless::cpu {
/// c = a @ b + beta * c for 2-D float tensors on the CPU (Eigen GEMM).
/// a and b may be row-major or transposed (column-major) views with any
/// leading stride; c must be contiguous [m, n].
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double beta);
/// True if `t` is 2-D with unit stride in one dimension (usable by gemm as is).
bool gemm_compatible(const Tensor& t);
}  // namespace torchless::cpu
