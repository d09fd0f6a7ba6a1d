#include "io/crc32.h"

#include <zlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace torchless::io {
namespace {

#if defined(__x86_64__)
// Folding by 4 x 128 bits with carry-less multiplies, then Barrett reduction,
// for the bit-reflected polynomial 0xEDB88320 — the method of Intel's "Fast
// CRC Computation for Generic Polynomials Using PCLMULQDQ" (Gopal et al.,
// 2009). The constants are x^(k) mod P(x) for the fold distances, bit-reflected:
//   k1 = x^(4*128+32), k2 = x^(4*128-32)   (fold 512 bits)
//   k3 = x^(128+32),   k4 = x^(128-32)     (fold 128 bits)
//   k5 = x^64                              (64 -> 32 bits)
//   P' and mu' for the final Barrett step.
// Takes and returns the raw (not inverted) CRC register; n >= 64, n % 16 == 0.
// Helpers carry the target attribute themselves: a lambda inside crc32_fold
// would not, and a build without -march=native could not inline it.
#define TORCHLESS_PCLMUL __attribute__((target("pclmul,sse4.1")))
TORCHLESS_PCLMUL inline __m128i load(const uint8_t* q) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)); }
TORCHLESS_PCLMUL inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

TORCHLESS_PCLMUL uint32_t crc32_fold(uint32_t crc, const uint8_t* p, size_t n) {
  const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
  const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
  const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
  const __m128i poly = _mm_set_epi64x(0x1F7011641LL, 0x1DB710641LL);
  const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);

  __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
  p += 64;
  n -= 64;
  while (n >= 64) {
    x1 = fold(x1, k1k2, load(p));
    x2 = fold(x2, k1k2, load(p + 16));
    x3 = fold(x3, k1k2, load(p + 32));
    x4 = fold(x4, k1k2, load(p + 48));
    p += 64;
    n -= 64;
  }
  x1 = fold(x1, k3k4, x2);
  x1 = fold(x1, k3k4, x3);
  x1 = fold(x1, k3k4, x4);
  while (n >= 16) {
    x1 = fold(x1, k3k4, load(p));
    p += 16;
    n -= 16;
  }
  // 128 -> 64 bits (appending 32 zero bits): x1.low * k4, plus x1 >> 64.
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(k3k4, x1, 0x01), _mm_srli_si128(x1, 8));
  // 64 -> 32 bits.
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00), _mm_srli_si128(x1, 4));
  // Barrett reduction to the 32-bit remainder.
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), poly, 0x00);
  return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x1, t), 1));
}
#undef TORCHLESS_PCLMUL

bool have_pclmul() {
  static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return yes;
}
#endif

uint32_t zlib_crc(uint32_t crc, const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(crc32_z(crc, p, n));
}

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (n >= 64 && have_pclmul()) {
    const size_t bulk = n & ~size_t{15};
    crc = ~crc32_fold(~crc, p, bulk);
    p += bulk;
    n -= bulk;
  }
#endif
  return n ? zlib_crc(crc, p, n) : crc;
}

uint32_t crc32_combine_lengths(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return static_cast<uint32_t>(crc32_combine64(crc_a, crc_b, static_cast<z_off64_t>(len_b)));
}

}  // namespace torchless::io
