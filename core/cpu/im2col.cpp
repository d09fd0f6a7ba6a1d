#include "core/cpu/im2col.h"

#include <algorithm>
#include <cstring>

namespace torchless::cpu {
namespace {

// Output columns [lo, hi) whose input column ow*S + off lies inside [0, W).
struct Span { int64_t lo, hi; };
Span valid_columns(int64_t off, int64_t S, int64_t W, int64_t OW) {
  const int64_t lo = off < 0 ? (-off + S - 1) / S : 0;
  const int64_t hi = W - off > 0 ? std::min(OW, (W - off + S - 1) / S) : 0;
  return {std::min(lo, hi), hi};
}

constexpr int64_t kParallelWork = 32768;  // elements moved before threads pay off

}  // namespace

template <typename T> void im2col(const T* x, T* cols, const ConvGeometry& g) {
  const int64_t P = g.OH * g.OW, NP = g.N * P, taps = g.KH * g.KW, plane = g.H * g.W;
#pragma omp parallel for collapse(2) schedule(static) if (g.rows() * NP >= kParallelWork)
  for (int64_t k = 0; k < g.rows(); ++k)
    for (int64_t n = 0; n < g.N; ++n) {
      const int64_t c = k / taps, kh = (k / g.KW) % g.KH, kw = k % g.KW;
      const T* xp = x + (n * g.C + c) * plane;
      T* dst = cols + k * NP + n * P;
      const int64_t off = kw * g.DW - g.PW;
      const Span s = valid_columns(off, g.SW, g.W, g.OW);
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* d = dst + oh * g.OW;
        const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
        if (ih < 0 || ih >= g.H) {
          std::fill(d, d + g.OW, T(0));
          continue;
        }
        const T* row = xp + ih * g.W;
        std::fill(d, d + s.lo, T(0));
        if (g.SW == 1) {
          std::memcpy(d + s.lo, row + s.lo + off, sizeof(T) * static_cast<size_t>(s.hi - s.lo));
        } else {
          for (int64_t ow = s.lo; ow < s.hi; ++ow) d[ow] = row[ow * g.SW + off];
        }
        std::fill(d + s.hi, d + g.OW, T(0));
      }
    }
}

template <typename T> void col2im(const T* cols, T* dx, const ConvGeometry& g) {
  const int64_t P = g.OH * g.OW, NP = g.N * P, taps = g.KH * g.KW, plane = g.H * g.W;
  // One input plane (n, c) per iteration: no two threads add into one element.
#pragma omp parallel for schedule(static) if (g.rows() * NP >= kParallelWork)
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    const int64_t n = nc / g.C, c = nc % g.C;
    T* d = dx + nc * plane;
    std::fill(d, d + plane, T(0));
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* src = cols + ((c * taps) + kh * g.KW + kw) * NP + n * P;
        const int64_t off = kw * g.DW - g.PW;
        const Span s = valid_columns(off, g.SW, g.W, g.OW);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          T* row = d + ih * g.W;
          const T* sr = src + oh * g.OW;
          if (g.SW == 1) {
            for (int64_t ow = s.lo; ow < s.hi; ++ow) row[ow + off] += sr[ow];
          } else {
            for (int64_t ow = s.lo; ow < s.hi; ++ow) row[ow * g.SW + off] += sr[ow];
          }
        }
      }
  }
}

template <typename T> void channels_to_batch(const T* src, T* dst, int64_t N, int64_t C, int64_t P, const T* bias) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * P >= kParallelWork)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T* s = src + c * N * P + n * P;
      T* d = dst + (n * C + c) * P;
      if (bias) {
        const T b = bias[c];
        for (int64_t p = 0; p < P; ++p) d[p] = s[p] + b;
      } else {
        std::memcpy(d, s, sizeof(T) * static_cast<size_t>(P));
      }
    }
}

template <typename T> void batch_to_channels(const T* src, T* dst, int64_t N, int64_t C, int64_t P) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * P >= kParallelWork)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      std::memcpy(dst + c * N * P + n * P, src + (n * C + c) * P, sizeof(T) * static_cast<size_t>(P));
}

template void im2col<float>(const float*, float*, const ConvGeometry&);
template void im2col<double>(const double*, double*, const ConvGeometry&);
template void col2im<float>(const float*, float*, const ConvGeometry&);
template void col2im<double>(const double*, double*, const ConvGeometry&);
template void channels_to_batch<float>(const float*, float*, int64_t, int64_t, int64_t, const float*);
template void channels_to_batch<double>(const double*, double*, int64_t, int64_t, int64_t, const double*);
template void batch_to_channels<float>(const float*, float*, int64_t, int64_t, int64_t);
template void batch_to_channels<double>(const double*, double*, int64_t, int64_t, int64_t);

}  // namespace torchless::cpu
