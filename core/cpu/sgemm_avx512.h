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

/// Rows of the largest register tile.
inline constexpr int64_t kSgemmTileRows = 12;
/// Columns of the largest register tile (two 16-float vectors).
inline constexpr int64_t kSgemmTileCols = 32;
/// A block's ragged edges use 4- and 8-row, 16-column tiles, so a split of
/// c into row blocks of a multiple of kSgemmRowUnit, or column blocks of a
/// multiple of kSgemmColUnit, costs only what it computes. (Splitting 256
/// rows as 128 + 128 rather than 132 + 124 made 2-thread GEMMs 2-5% faster.)
inline constexpr int64_t kSgemmRowUnit = 4;
inline constexpr int64_t kSgemmColUnit = 16;

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
