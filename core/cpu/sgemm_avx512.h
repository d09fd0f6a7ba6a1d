#pragma once
#include <atomic>
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

/// c[m, n] = a[m, k] @ b[k, n] + beta * c (+ bias[n] on every row when
/// bias is not null), on the calling thread.
/// a and b must each have a unit stride in one dimension (row- or
/// column-major, any leading stride); c is row-major with row stride ldc.
/// beta == 0 never reads c (it may hold garbage or NaN). No allocation once
/// the calling thread's packing buffer has grown to the largest block.
/// Only available when have_sgemm_avx512(); throws std::logic_error otherwise.
void sgemm_avx512(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
                  const float* bias = nullptr);

/// The shared state of one GEMM computed by several threads together (see
/// sgemm_avx512_team). Construct one per GEMM, before the parallel region.
class SgemmTeam {
 public:
  /// `threads`: how many threads are expected to join. The output's rows are
  /// split into that many home ranges (any number may actually join).
  explicit SgemmTeam(int threads);
  SgemmTeam(const SgemmTeam&) = delete;
  SgemmTeam& operator=(const SgemmTeam&) = delete;

  /// Most work items per block of the product (row tiles x column chunks).
  static constexpr int kMaxItems = 256;
  /// Most home ranges; threads past this share them.
  static constexpr int kMaxHomes = 16;

 private:
  friend void sgemm_avx512_team(int64_t, int64_t, int64_t, SMatrix, SMatrix, float*, int64_t, float, const float*,
                                SgemmTeam&, int);
  struct alignas(64) Counter {
    std::atomic<int64_t> value{0};
  };
  int homes_;
  Counter next_[kMaxHomes];  // per home: the next (block, item) to take
  // done_[i]: how many blocks of work item i are finished. Each item's
  // output is written by one block at a time, in order.
  alignas(64) std::atomic<int64_t> done_[kMaxItems];
};

/// The same product as sgemm_avx512, computed by every thread that calls
/// this with the same arguments and the same team, each with its own
/// `member` index in [0, threads). Member i works through the i-th home
/// range of the output, one tile at a time: its rows (the rows an OpenMP
/// static schedule gives thread i in an elementwise op, still in that core's
/// caches), or where b is wider than a, its columns (it then packs only its
/// share of b); a thread whose range is done takes the next tiles of the
/// others'. So a thread slowed by the machine (a busy core, a
/// preempted vCPU) costs the others at most one tile, not the rest of its
/// share. Each thread packs b for itself: there is no barrier, and a thread
/// waits only when the tile it took still has its previous k-block in
/// progress on another thread.
/// A member that never calls leaves its range to the others. Returns when
/// no work is left for this thread; the product is complete once every
/// participating thread has returned.
/// Throws std::bad_alloc (before taking any work) if this thread's packing
/// buffer cannot grow; std::logic_error as sgemm_avx512.
void sgemm_avx512_team(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
                       const float* bias, SgemmTeam& team, int member);

}  // namespace torchless::cpu
