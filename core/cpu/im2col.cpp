#include "core/cpu/im2col.h"

#include <cstring>

namespace torchless::cpu {

template <typename T> void im2col(const T* x, T* cols, const ConvGeometry& g) {
  const int64_t K = g.cols(), plane = g.H * g.W;
  // One output row (n, oh) per iteration: each writes its own OW rows of cols.
#pragma omp parallel for schedule(static) if (g.rows() * K >= 65536)
  for (int64_t r = 0; r < g.N * g.OH; ++r) {
    const int64_t n = r / g.OH, oh = r % g.OH;
    const T* xn = x + n * g.C * plane;
    T* out = cols + r * g.OW * K;
    for (int64_t ow = 0; ow < g.OW; ++ow, out += K) {
      T* o = out;
      for (int64_t c = 0; c < g.C; ++c) {
        const T* xc = xn + c * plane;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) {
            std::memset(o, 0, sizeof(T) * g.KW);
            o += g.KW;
            continue;
          }
          const T* row = xc + ih * g.W;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.SW - g.PW + kw * g.DW;
            *o++ = iw >= 0 && iw < g.W ? row[iw] : T(0);
          }
        }
      }
    }
  }
}

template <typename T> void col2im(const T* cols, T* dx, const ConvGeometry& g) {
  const int64_t K = g.cols(), plane = g.H * g.W, taps = g.KH * g.KW;
  // One input plane (n, c) per iteration: no two threads add into one element.
#pragma omp parallel for schedule(static) if (g.rows() * K >= 65536)
  for (int64_t nc = 0; nc < g.N * g.C; ++nc) {
    const int64_t n = nc / g.C, c = nc % g.C;
    T* d = dx + nc * plane;
    std::memset(d, 0, sizeof(T) * plane);
    const T* base = cols + n * g.OH * g.OW * K + c * taps;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const T* src = base + (oh * g.OW + ow) * K;
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.SH - g.PH + kh * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          T* row = d + ih * g.W;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.SW - g.PW + kw * g.DW;
            if (iw >= 0 && iw < g.W) row[iw] += src[kh * g.KW + kw];
          }
        }
      }
  }
}

template void im2col<float>(const float*, float*, const ConvGeometry&);
template void im2col<double>(const double*, double*, const ConvGeometry&);
template void col2im<float>(const float*, float*, const ConvGeometry&);
template void col2im<double>(const double*, double*, const ConvGeometry&);

}  // namespace torchless::cpu
