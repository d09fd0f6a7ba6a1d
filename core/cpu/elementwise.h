#pragma once
// Elementwise CPU loops. Operands are already broadcast (expanded) to the
// output's shape; contiguous operands take a flat, vectorisable loop.
#include "core/cpu/strided.h"
#include "core/tensor.h"

namespace torchless::cpu {

/// Contiguous loops at least this long are split across threads (below it
/// the fork/join costs more than the loop).
inline constexpr int64_t kParallelElements = 65536;

template <typename T, typename F>
void unary_kernel(const Tensor& out, const Tensor& a, F f) {
  T* o = static_cast<T*>(out.raw_data());
  const T* x = static_cast<const T*>(a.raw_data());
  if (out.is_contiguous() && a.is_contiguous()) {
    const int64_t n = out.numel();
#pragma omp parallel for if (n >= kParallelElements) schedule(static)
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    return;
  }
  for_each_row<2>(out.sizes(), {&out.strides(), &a.strides()},
                  [&](const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st, int64_t n) {
                    for (int64_t i = 0; i < n; ++i) o[off[0] + i * st[0]] = f(x[off[1] + i * st[1]]);
                  });
}

template <typename T, typename R, typename F>
void binary_kernel(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  R* o = static_cast<R*>(out.raw_data());
  const T* x = static_cast<const T*>(a.raw_data());
  const T* y = static_cast<const T*>(b.raw_data());
  if (out.is_contiguous() && a.is_contiguous() && b.is_contiguous()) {
    const int64_t n = out.numel();
#pragma omp parallel for if (n >= kParallelElements) schedule(static)
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    return;
  }
  for_each_row<3>(out.sizes(), {&out.strides(), &a.strides(), &b.strides()},
                  [&](const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& st, int64_t n) {
                    R* op = o + off[0];
                    const T* xp = x + off[1];
                    const T* yp = y + off[2];
                    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                      for (int64_t i = 0; i < n; ++i) op[i] = f(xp[i], yp[i]);
                    } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {
                      const T yv = *yp;
                      for (int64_t i = 0; i < n; ++i) op[i] = f(xp[i], yv);
                    } else {
                      for (int64_t i = 0; i < n; ++i) op[i * st[0]] = f(xp[i * st[1]], yp[i * st[2]]);
                    }
                  });
}

}  // namespace torchless::cpu
