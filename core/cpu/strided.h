#pragma once
// Walks the elements of tensors that share one iteration shape but have their
// own strides (0 for broadcast dims), innermost dim in a tight loop.
#include <array>
#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace torchless::cpu {

/// Calls body(offsets[N], inner_strides[N], inner_len) for each innermost row
/// of `shape`, where offsets are element offsets into each of the N operands.
template <size_t N, typename Body>
void for_each_row(const Shape& shape, const std::array<const Shape*, N>& strides, Body&& body) {
  const size_t nd = shape.size();
  std::array<int64_t, N> off{};
  std::array<int64_t, N> inner{};
  if (nd == 0) {
    body(off, inner, int64_t{1});
    return;
  }
  for (auto d : shape)
    if (d == 0) return;
  for (size_t k = 0; k < N; ++k) inner[k] = (*strides[k])[nd - 1];
  const int64_t len = shape[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  while (true) {
    body(off, inner, len);
    // advance the outer dims like an odometer
    int64_t d = static_cast<int64_t>(nd) - 2;
    for (; d >= 0; --d) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += (*strides[k])[d];
      if (idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= (*strides[k])[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace torchless::cpu
