// Host half of the CUDA elementwise kernels' broadcast indexing, against
// offsets computed by hand from nested loops.
#include <gtest/gtest.h>

#include <cstdint>

#include "cuda/kernels/broadcast.h"

namespace k = torchless::cuda::kernels;

TEST(CudaBroadcastHost, RowVectorAndTransposedOperandOffsets) {
  const int64_t out[3] = {2, 3, 4};
  // Operand of shape (3, 1) with strides (1, 1): broadcast over dims 0 and 2.
  const int64_t a_sizes[2] = {3, 1}, a_strides[2] = {1, 1};
  k::BroadcastMap a{};
  ASSERT_TRUE(k::make_broadcast_map(out, 3, a_sizes, a_strides, 2, a));
  // Operand of shape (2, 3, 4) stored transposed in its last two dims: strides (12, 1, 3).
  const int64_t b_sizes[3] = {2, 3, 4}, b_strides[3] = {12, 1, 3};
  k::BroadcastMap b{};
  ASSERT_TRUE(k::make_broadcast_map(out, 3, b_sizes, b_strides, 3, b));
  int64_t linear = 0;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t l = 0; l < 4; ++l, ++linear) {
        EXPECT_EQ(k::broadcast_offset(a, linear), j);
        EXPECT_EQ(k::broadcast_offset(b, linear), i * 12 + j + l * 3);
      }
}

TEST(CudaBroadcastHost, RefusesIncompatibleShapes) {
  const int64_t out[2] = {2, 3};
  const int64_t s[2] = {2, 2}, st[2] = {2, 1};
  k::BroadcastMap m{};
  EXPECT_FALSE(k::make_broadcast_map(out, 2, s, st, 2, m));
  const int64_t scalar_sizes[1] = {1}, scalar_strides[1] = {1};
  ASSERT_TRUE(k::make_broadcast_map(out, 2, scalar_sizes, scalar_strides, 1, m));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(k::broadcast_offset(m, i), 0);
}
