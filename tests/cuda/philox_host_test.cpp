// Host half of the CUDA Dropout RNG: the same header the kernel calls,
// checked against Random123's published Philox4x32-10 known-answer vectors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "cuda/kernels/philox.h"

namespace k = torchless::cuda::kernels;

namespace {

void expect_kat(k::Philox4x32 ctr, uint32_t k0, uint32_t k1, k::Philox4x32 want) {
  const k::Philox4x32 got = k::philox4x32(ctr, k0, k1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], want.v[i]) << "word " << i;
}

}  // namespace

TEST(CudaPhiloxHost, KnownAnswerZeros) {
  expect_kat({{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}});
}

TEST(CudaPhiloxHost, KnownAnswerOnes) {
  expect_kat({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu,
             {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}});
}

TEST(CudaPhiloxHost, KnownAnswerPi) {
  expect_kat({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u,
             {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}});
}

TEST(CudaPhiloxHost, ElementBitsFollowTheDocumentedCounterLayout) {
  const uint64_t seed = 0x299f31d0a4093822ull, offset = 0x85a308d3243f6a88ull;
  const uint64_t index = (0x0370734413198a2eull << 2) | 3;
  EXPECT_EQ(k::philox_element_bits(seed, offset, index), 0x24126ea1u);
}

TEST(CudaPhiloxHost, DropoutKeepsAboutOneMinusPAndScales) {
  const float p = 0.25f;
  int kept = 0;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const float y = k::dropout_element(2.0f, p, 42, 7, static_cast<uint64_t>(i));
    if (y != 0.0f) {
      EXPECT_FLOAT_EQ(y, 2.0f / 0.75f);
      ++kept;
    }
    // Same (seed, offset, index) gives the same mask: what graph replays rely on.
    EXPECT_EQ(y, k::dropout_element(2.0f, p, 42, 7, static_cast<uint64_t>(i)));
  }
  // 0.75 * 40000 = 30000, sd ~ 87; 6 sd bounds never fail by chance.
  EXPECT_NEAR(kept, 30000, 520);
  EXPECT_EQ(k::dropout_element(3.0f, 1.0f, 1, 2, 3), 0.0f);
  EXPECT_EQ(k::dropout_element(3.0f, 0.0f, 1, 2, 3), 3.0f);
}
