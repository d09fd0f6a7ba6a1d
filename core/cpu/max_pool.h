#pragma once
// Max pooling over contiguous [N, C, H, W] planes, with torch's indices (the
// flat position in its plane of each window's maximum) for the backward.
#include <cstdint>

#include "core/cpu/im2col.h"

namespace torchless::cpu {

/// out[n, c, oh, ow] = the maximum of x over the window at (oh*SH - PH,
/// ow*SW - PW) of KH x KW taps DH, DW apart, skipping taps in the padding;
/// argmax[same] = the tap's flat index ih*W + iw in its plane. torch's rule
/// decides ties and NaN: a NaN wins (the last one), otherwise the first
/// maximum. g.OH, g.OW must be the pooled sizes. A window with no tap inside
/// the input gets -inf and index -1.
/// T is float or double. Planes split across OpenMP threads.
template <typename T> void max_pool2d(const T* x, T* out, int64_t* argmax, const ConvGeometry& g);

/// The adjoint: dx[plane, argmax[k]] += grad[k] for every output k with an
/// index (>= 0), into dx (contiguous, N*C*H*W), which it zeroes first.
template <typename T> void max_pool2d_backward(const T* grad, const int64_t* argmax, T* dx, const ConvGeometry& g);

}  // namespace torchless::cpu
