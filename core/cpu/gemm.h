#pragma once
#include "core/tensor.h"

namespace torchless::cpu {
/// c = a @ b + beta * c for 2-D float tensors on the CPU (Eigen GEMM).
/// a and b may be row-major or transposed (column-major) views with any
/// leading stride; c must be row-major [m, n] (unit column stride; it may
/// be a column block of a wider matrix). Uses gemm_threads() threads.
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double beta);
/// Threads used by gemm (set by torchless::set_num_threads).
int gemm_threads();
void set_gemm_threads(int n);
/// True if `t` is 2-D with unit stride in one dimension (usable by gemm as is).
bool gemm_compatible(const Tensor& t);
}  // namespace torchless::cpu
