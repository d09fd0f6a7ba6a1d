#pragma once
#include "core/tensor.h"

namespace torchless::cpu {
/// c = a @ b (+ bias on every row, when bias is defined) for 2-D float
/// tensors on the CPU; c's old contents are never read. float32 runs on the
/// AVX-512 kernel where the build has it (sgemm_avx512.h), anything else on
/// Eigen's GEMM. a and b may be row-major or transposed (column-major) views
/// with any leading stride; c must be row-major [m, n] (unit column stride;
/// it may be a column block of a wider matrix); bias is [n]. Uses
/// gemm_threads() threads. Throws std::invalid_argument for a dtype that
/// cannot compute.
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias = Tensor());
/// Threads used by gemm (set by torchless::set_num_threads).
int gemm_threads();
void set_gemm_threads(int n);
/// True if `t` is 2-D with unit stride in one dimension (usable by gemm as is).
bool gemm_compatible(const Tensor& t);
}  // namespace torchless::cpu
