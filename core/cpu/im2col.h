#pragma once
// The patch matrix behind Conv2d: im2col lays the input out as one row per
// kernel tap (c, kh, kw) and one column per output pixel of the whole batch
// (n, oh, ow), so that a convolution is one GEMM per group, weight [OC, C*KH*KW]
// times patches [C*KH*KW, N*OH*OW], whatever the batch size; each row is a
// shifted copy of input rows, which stride 1 turns into plain memcpy.
// col2im is its adjoint (the input gradient). Zero padding reads as 0 and
// is dropped on the way back.
#include <cstdint>

namespace torchless::cpu {

struct ConvGeometry {
  int64_t N, C, H, W;     ///< input [N, C, H, W]
  int64_t KH, KW;         ///< kernel
  int64_t SH, SW;         ///< stride
  int64_t PH, PW;         ///< zero padding on each side
  int64_t DH, DW;         ///< dilation
  int64_t OH, OW;         ///< output size (computed by the caller)
  int64_t rows() const { return C * KH * KW; }
  int64_t cols() const { return N * OH * OW; }
};

/// cols[(c*KH + kh)*KW + kw, (n*OH + oh)*OW + ow] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]
/// (0 outside the input). x is contiguous NCHW; cols is row-major
/// [rows(), cols()]. T is float or double.
template <typename T> void im2col(const T* x, T* cols, const ConvGeometry& g);

/// The adjoint: dx (contiguous NCHW, overwritten) = the sum, over every
/// entry of cols, of that entry into the input element im2col read it from.
template <typename T> void col2im(const T* cols, T* dx, const ConvGeometry& g);

/// Between the GEMM's layout and NCHW: dst[n, c, p] = src[c, n*P + p] (+
/// bias[c] when bias is not null), for src [C, N*P] and dst [N, C, P].
template <typename T> void channels_to_batch(const T* src, T* dst, int64_t N, int64_t C, int64_t P, const T* bias);
/// The reverse, dst[c, n*P + p] = src[n, c, p].
template <typename T> void batch_to_channels(const T* src, T* dst, int64_t N, int64_t C, int64_t P);

}  // namespace torchless::cpu
