#pragma once
// The patch matrix behind Conv2d: im2col lays every output pixel's receptive
// field out as one row, so that a convolution becomes one GEMM over the whole
// batch (rows = N*OH*OW pixels, columns = C*KH*KW taps); col2im is its
// adjoint (the input gradient). Zero padding reads as 0 and is dropped on
// the way back.
#include <cstdint>

namespace torchless::cpu {

struct ConvGeometry {
  int64_t N, C, H, W;     ///< input [N, C, H, W]
  int64_t KH, KW;         ///< kernel
  int64_t SH, SW;         ///< stride
  int64_t PH, PW;         ///< zero padding on each side
  int64_t DH, DW;         ///< dilation
  int64_t OH, OW;         ///< output size (computed by the caller)
  int64_t rows() const { return N * OH * OW; }
  int64_t cols() const { return C * KH * KW; }
};

/// cols[(n*OH + oh)*OW + ow, (c*KH + kh)*KW + kw] = x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]
/// (0 outside the input). x is contiguous NCHW; cols is row-major
/// [rows(), cols()]. T is float or double.
template <typename T> void im2col(const T* x, T* cols, const ConvGeometry& g);

/// The adjoint: dx (contiguous NCHW, overwritten) = the sum, over every
/// entry of cols, of that entry into the input element im2col read it from.
template <typename T> void col2im(const T* cols, T* dx, const ConvGeometry& g);

}  // namespace torchless::cpu
