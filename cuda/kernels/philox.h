#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; Random123). Counter-based: the output depends only on (key, counter),
// so a kernel thread computes its random numbers from its element index with
// no state, and an eager step and a CUDA-graph replay of it draw the same bits
// as long as they are given the same (seed, offset).
//
// Dropout mask derivation (the contract the CUDA kernel and its CPU test
// share): key = the 64-bit seed split (lo, hi); counter = (offset lo, offset hi,
// element_index / 4 lo, element_index / 4 hi); element i uses word i % 4 of
// that block. `offset` is advanced by ceil(numel / 4) per dropout call by the
// caller, on the device, so replays need no host round trip.
#include <cstdint>

#include "cuda/kernels/hd.h"

namespace torchless::cuda::kernels {

struct Philox4x32 {
  uint32_t v[4];
};

TORCHLESS_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// One Philox4x32 block of `rounds` rounds (10 is the standard, and the one
// the known-answer vectors check).
TORCHLESS_HD Philox4x32 philox4x32(Philox4x32 ctr, uint32_t k0, uint32_t k1, int rounds = 10) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int r = 0; r < rounds; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kM0, ctr.v[0], hi0, lo0);
    philox_mulhilo(kM1, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// The 32 random bits dropout element `index` uses (see the contract above).
TORCHLESS_HD uint32_t philox_element_bits(uint64_t seed, uint64_t offset, uint64_t index) {
  const uint64_t block = index / 4;
  const Philox4x32 out = philox4x32(
      Philox4x32{{static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32),
                  static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32)}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return out.v[index % 4];
}

// Uniform float in [0, 1) from the top 24 bits (exactly representable).
TORCHLESS_HD float uint32_to_unit_float(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Dropout: keep with probability 1 - p, scaled by 1 / (1 - p); p == 1 drops all.
TORCHLESS_HD float dropout_element(float x, float p, uint64_t seed, uint64_t offset, uint64_t index) {
  if (p >= 1.0f) return 0.0f;
  const bool keep = uint32_to_unit_float(philox_element_bits(seed, offset, index)) >= p;
  return keep ? x * (1.0f / (1.0f - p)) : 0.0f;
}

}  // namespace torchless::cuda::kernels
