#pragma once
#include <cstdint>

namespace torchless::cpu {

/// True when the library was built with the AVX-512 float32 GEMM (with
/// -march=native on a CPU with AVX-512F); otherwise gemm() uses Eigen's.
/// A function, not a macro test: callers may be built with other flags.
bool have_sgemm_avx512();

/// A read-only float32 matrix: element (i, j) is data[i * row_stride + j * col_stride].
struct SMatrix {
  const float* data;
  int64_t row_stride, col_stride;
};

/// Rows of the register tile; a split of C's rows in multiples of this wastes nothing.
inline constexpr int64_t kSgemmTileRows = 12;
/// Columns of the register tile (two 16-float vectors; a block's last 16 or
/// fewer columns use a one-vector tile, so splits in multiples of 16 waste
/// nothing either).
inline constexpr int64_t kSgemmTileCols = 32;

/// c[m, n] = a[m, k] @ b[k, n] + beta * c (+ bias[n] on every row when
/// bias is not null), on the calling thread.
/// a and b must each have a unit stride in one dimension (row- or
/// column-major, any leading stride); c is row-major with row stride ldc.
/// beta == 0 never reads c (it may hold garbage or NaN). No allocation once
/// the calling thread's packing buffer has grown to the largest block.
/// Only available when have_sgemm_avx512(); throws std::logic_error otherwise.
void sgemm_avx512(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
                  const float* bias = nullptr);

}  // namespace torchless::cpu
