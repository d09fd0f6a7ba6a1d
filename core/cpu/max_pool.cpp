#include "core/cpu/max_pool.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace torchless::cpu {
namespace {

// One step of torch's scan: take v if it is larger or a NaN. Written as
// selects: on real activations the comparison is a coin toss, and a branch
// mispredicted on every other tap cost more than the whole pass over memory.
template <typename T> inline void take_max(T v, int64_t i, T& best, int64_t& at) {
  const bool take = (v > best) | (v != v);
  best = take ? v : best;
  at = take ? i : at;
}

// 2x2 windows, dilation 1, all inside the plane: a pairwise tree, which
// picks what the left-to-right scan picks (the last NaN, else the first
// maximum).
template <typename T> inline T pick(T a, T b, bool& took_b) {
  took_b = (b > a) | (b != b);
  return took_b ? b : a;
}

template <typename T>
void pool_2x2(const T* plane, T* op, int64_t* ap, int64_t W, int64_t OH, int64_t OW, int64_t SH, int64_t SW) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = plane + oh * SH * W;
    const T* r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t c = ow * SW;
      bool tb, te, tbot;
      const T top = pick(r0[c], r0[c + 1], tb), bottom = pick(r1[c], r1[c + 1], te);
      op[oh * OW + ow] = pick(top, bottom, tbot);
      ap[oh * OW + ow] = oh * SH * W + c + (tbot ? W + te : int64_t{tb});
    }
  }
}

#if defined(__AVX512F__)
// The same tree for float, 2x2 windows with stride 2, 16 windows a step:
// the compiler will not vectorise the scalar one (stride-2 loads feeding
// selects), and the scalar selects become branches it mispredicts.
inline __mmask16 takes(__m512 a, __m512 b) {
  return _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
}

void pool_2x2_s2_avx512(const float* plane, float* op, int64_t* ap, int64_t W, int64_t OH, int64_t OW, int64_t SH) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  const __m512i below = _mm512_set1_epi32(static_cast<int32_t>(W)), below_right = _mm512_add_epi32(below, one);
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = plane + oh * SH * W;
    const float* r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      // Masked loads and stores for the last (or only) partial block; the
      // masked-off lanes are never read, so nothing past the row is touched.
      const int64_t n = OW - ow < 16 ? OW - ow : 16;
      const __mmask16 out_mask = static_cast<__mmask16>((1u << n) - 1);
      const __mmask16 lo = static_cast<__mmask16>(2 * n >= 16 ? 0xFFFF : (1u << (2 * n)) - 1);
      const __mmask16 hi = static_cast<__mmask16>(2 * n <= 16 ? 0 : (1u << (2 * n - 16)) - 1);
      const int64_t c = 2 * ow;
      const __m512 t0 = _mm512_maskz_loadu_ps(lo, r0 + c), t1 = _mm512_maskz_loadu_ps(hi, r0 + c + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + c), b1 = _mm512_maskz_loadu_ps(hi, r1 + c + 16);
      const __m512 a = _mm512_permutex2var_ps(t0, even, t1), b = _mm512_permutex2var_ps(t0, odd, t1);
      const __m512 d = _mm512_permutex2var_ps(b0, even, b1), e = _mm512_permutex2var_ps(b0, odd, b1);
      const __mmask16 tb = takes(a, b), te = takes(d, e);
      const __m512 top = _mm512_mask_blend_ps(tb, a, b), bottom = _mm512_mask_blend_ps(te, d, e);
      const __mmask16 tbot = takes(top, bottom);
      _mm512_mask_storeu_ps(op + oh * OW + ow, out_mask, _mm512_mask_blend_ps(tbot, top, bottom));
      const __m512i off = _mm512_mask_blend_epi32(
          tbot, _mm512_mask_blend_epi32(tb, zero, one), _mm512_mask_blend_epi32(te, below, below_right));
      const __m512i at32 = _mm512_add_epi32(off, even);  // even = 2 * lane, the window's first column
      const __m512i base = _mm512_set1_epi64(oh * SH * W + c);
      int64_t* at = ap + oh * OW + ow;
      _mm512_mask_storeu_epi64(at, static_cast<__mmask8>(out_mask & 0xFF),
                               _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at32))));
      _mm512_mask_storeu_epi64(at + 8, static_cast<__mmask8>(out_mask >> 8),
                               _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at32, 1))));
    }
  }
}
#endif

template <typename T> void pool_inside(const T* plane, T* op, int64_t* ap, const ConvGeometry& g) {
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t at0 = oh * g.SH * g.W + ow * g.SW;
      T best = plane[at0];
      int64_t at = at0;
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t i = at0 + kh * g.DH * g.W + kw * g.DW;
          take_max(plane[i], i, best, at);
        }
      op[oh * g.OW + ow] = best;
      ap[oh * g.OW + ow] = at;
    }
}

template <typename T> void pool_clipped(const T* plane, T* op, int64_t* ap, const ConvGeometry& g) {
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    const int64_t h0 = oh * g.SH - g.PH;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t w0 = ow * g.SW - g.PW;
      T best = -std::numeric_limits<T>::infinity();
      int64_t at = -1;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = h0 + kh * g.DH;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = w0 + kw * g.DW;
          if (iw < 0 || iw >= g.W) continue;
          const int64_t i = ih * g.W + iw;
          if (at < 0) best = plane[i], at = i;
          take_max(plane[i], i, best, at);
        }
      }
      op[oh * g.OW + ow] = best;
      ap[oh * g.OW + ow] = at;
    }
  }
}

}  // namespace

template <typename T> void max_pool2d(const T* x, T* out, int64_t* argmax, const ConvGeometry& g) {
  const int64_t planes = g.N * g.C, HW = g.H * g.W, OHW = g.OH * g.OW;
  // No padding and no window cut off by ceil_mode: no bounds checks needed.
  const bool inside = g.PH == 0 && g.PW == 0 && (g.OH - 1) * g.SH + (g.KH - 1) * g.DH < g.H &&
                      (g.OW - 1) * g.SW + (g.KW - 1) * g.DW < g.W;
  const bool two_by_two = inside && g.KH == 2 && g.KW == 2 && g.DH == 1 && g.DW == 1;
#pragma omp parallel for schedule(static) if (planes * HW >= 65536)
  for (int64_t p = 0; p < planes; ++p) {
    const T* plane = x + p * HW;
    T* op = out + p * OHW;
    int64_t* ap = argmax + p * OHW;
    if (two_by_two) {
#if defined(__AVX512F__)
      // int32 in-plane offsets: planes up to 2^31 elements.
      if constexpr (std::is_same_v<T, float>)
        if (g.SW == 2 && HW < (int64_t{1} << 31)) {
          pool_2x2_s2_avx512(plane, op, ap, g.W, g.OH, g.OW, g.SH);
          continue;
        }
#endif
      pool_2x2(plane, op, ap, g.W, g.OH, g.OW, g.SH, g.SW);
    } else if (inside)
      pool_inside(plane, op, ap, g);
    else
      pool_clipped(plane, op, ap, g);
  }
}

template <typename T> void max_pool2d_backward(const T* grad, const int64_t* argmax, T* dx, const ConvGeometry& g) {
  const int64_t planes = g.N * g.C, HW = g.H * g.W, OHW = g.OH * g.OW;
#pragma omp parallel for schedule(static) if (planes * HW >= 65536)
  for (int64_t p = 0; p < planes; ++p) {
    T* d = dx + p * HW;
    std::fill(d, d + HW, T(0));
    for (int64_t k = p * OHW; k < (p + 1) * OHW; ++k)
      if (argmax[k] >= 0) d[argmax[k]] += grad[k];
  }
}

template void max_pool2d<float>(const float*, float*, int64_t*, const ConvGeometry&);
template void max_pool2d<double>(const double*, double*, int64_t*, const ConvGeometry&);
template void max_pool2d_backward<float>(const float*, const int64_t*, float*, const ConvGeometry&);
template void max_pool2d_backward<double>(const double*, const int64_t*, double*, const ConvGeometry&);

}  // namespace torchless::cpu
