#pragma once
// Broadcast index math for elementwise kernels: an output linear index (row
// major over the output shape) to the element offset of a strided operand
// whose broadcast dimensions have stride 0.
#include <cstdint>

#include "cuda/kernels/hd.h"

namespace torchless::cuda::kernels {

constexpr int kMaxDims = 8;

// Output sizes plus one operand's strides (in elements), right-aligned to the
// output's rank; size-1 or missing operand dimensions carry stride 0.
struct BroadcastMap {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];
};

TORCHLESS_HD int64_t broadcast_offset(const BroadcastMap& m, int64_t linear) {
  int64_t off = 0;
  for (int d = m.ndim - 1; d >= 0; --d) {
    const int64_t i = linear % m.sizes[d];
    linear /= m.sizes[d];
    off += i * m.strides[d];
  }
  return off;
}

// Builds the map for an operand of rank `in_ndim` (sizes/strides) against the
// output shape. Returns false where the shapes do not broadcast or the rank
// exceeds kMaxDims (callers throw std::invalid_argument naming the shapes).
inline bool make_broadcast_map(const int64_t* out_sizes, int out_ndim, const int64_t* in_sizes,
                               const int64_t* in_strides, int in_ndim, BroadcastMap& m) {
  if (out_ndim > kMaxDims || in_ndim > out_ndim) return false;
  m.ndim = out_ndim;
  for (int d = 0; d < out_ndim; ++d) {
    const int id = d - (out_ndim - in_ndim);
    m.sizes[d] = out_sizes[d];
    if (id < 0 || in_sizes[id] == 1) {
      m.strides[d] = 0;
    } else if (in_sizes[id] == out_sizes[d]) {
      m.strides[d] = in_strides[id];
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace torchless::cuda::kernels
