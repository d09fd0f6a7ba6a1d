// A packed float32 GEMM for AVX-512 cores, in the BLIS style: a 12x32
// register tile (24 zmm accumulators), B packed into 32-column panels that
// stay in L2, A read in place (its 12 rows of one k-block stay in L1 while
// the tile walks across B).
//
// Why not Eigen's GEMM: on the MLP's shapes (k <= 1024, n <= 784) Eigen's
// AVX-512 kernel reaches 70-78% of a Zen 4 core's FMA peak (78-87 of 112
// GFLOP/s); this one 88-98% (bench/kernels_bench: BM_EigenGemmXWt against
// BM_Linear*, and bench/RESULTS.md).
#include "core/cpu/sgemm_avx512.h"

#include <stdexcept>

#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#endif

namespace torchless::cpu {

SgemmTeam::SgemmTeam(int threads) : homes_(std::clamp(threads, 1, kMaxHomes)) {
  for (auto& d : done_) d.store(0, std::memory_order_relaxed);
}

#if defined(__AVX512F__)
bool have_sgemm_avx512() { return true; }

namespace {

constexpr int64_t MR = kSgemmTileRows;
constexpr int64_t NR = kSgemmTileCols;
// Longest k-block: A's 12 x 320 floats (15 KiB) stay in L1 while B streams.
// k is cut into equal blocks (784 -> 3 x 262, not 3 x 256 + 16: a short
// block pays the tile's set-up and C traffic for little work).
constexpr int64_t KC = 320;
// n-block: a packed 256 x 512 B block is 512 KiB, half of L2.
constexpr int64_t NC = 512;

enum class Store { kOverwrite, kAccumulate, kScale };

// Per-thread packing buffer, grown once to the largest block and kept: the
// training loop's GEMMs allocate nothing after the first step.
float* pack_buffer(int64_t floats) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buffer;
  thread_local int64_t capacity = 0;
  if (floats > capacity) {
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    buffer.reset(p);
    capacity = floats;
  }
  return buffer.get();
}

__mmask16 tail_mask(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// In-register transpose: r[i][j] becomes r[j][i].
void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // Now r[4i + c], 128-bit lane l, holds rows 4i..4i+3 of column 4l + c.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x44), x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xEE);
    const __m512 y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x44),
                 y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xEE);
    t[c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    t[8 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Packs b[0:kc, 0:nc] into panels of NR columns: panel p holds, for each k,
// NR consecutive floats b(k, p*NR + j), zero past column nc.
void pack_b(int64_t kc, int64_t nc, SMatrix b, float* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, out += kc * NR) {
    const int64_t cols = std::min(NR, nc - j0);
    if (b.col_stride == 1) {
      const __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols - 16);
      const float* src = b.data + j0;
      for (int64_t k = 0; k < kc; ++k, src += b.row_stride) {
        _mm512_store_ps(out + k * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(out + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else {
      // b is a transposed view (unit row stride): each column is contiguous
      // in k. Transpose 16x16 blocks in registers, the ragged edges by element.
      if (cols < NR) std::memset(out, 0, static_cast<size_t>(kc * NR) * sizeof(float));
      const int64_t k16 = kc / 16 * 16;
      for (int64_t jh = 0; jh + 16 <= cols; jh += 16) {
        const float* src = b.data + (j0 + jh) * b.col_stride;
        for (int64_t k0 = 0; k0 < k16; k0 += 16) {
          __m512 r[16];
          for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(src + j * b.col_stride + k0);
          transpose16x16(r);
          for (int k = 0; k < 16; ++k) _mm512_store_ps(out + (k0 + k) * NR + jh, r[k]);
        }
      }
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = b.data + (j0 + j) * b.col_stride;
        const bool done = j < cols / 16 * 16;
        for (int64_t k = done ? k16 : 0; k < kc; ++k) out[k * NR + j] = src[k];
      }
    }
  }
}

// Packs a[0:rows, 0:kc] (rows < MR) so that each k holds MR consecutive
// floats, the missing rows zero: the tile then reads it as a transposed A.
void pack_a_edge(int64_t rows, int64_t kc, SMatrix a, float* out) {
  std::memset(out, 0, static_cast<size_t>(kc * MR) * sizeof(float));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < kc; ++k) out[k * MR + i] = a.data[i * a.row_stride + k * a.col_stride];
}

// Writes one tile row: c = v (+ c, or + beta * c) (+ bias), cols under the masks.
template <int NV>
void store_row(float* c, const __m512* v, __mmask16 m0, __mmask16 m1, Store mode, __m512 beta, const float* bias) {
  const __mmask16 mask[2] = {m0, m1};
  for (int h = 0; h < NV; ++h) {
    __m512 out = v[h];
    if (mode == Store::kAccumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask[h], c + 16 * h));
    else if (mode == Store::kScale) out = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[h], c + 16 * h), out);
    if (bias) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask[h], bias + 16 * h));
    _mm512_mask_storeu_ps(c + 16 * h, mask[h], out);
  }
}

// c[0:rows, 0:cols] (+)= A-tile @ B-panel over kc steps: a register tile
// of ROWS x NV 16-float vectors (smaller ones for a block's ragged edges, so
// that an edge costs what it computes).
//  kTransposedA: the tile's values for one k are contiguous (a + k*lda);
//    otherwise row i is contiguous (a + i*lda + k), and rows past `rows`
//    re-read the last row and are not stored.
//  b is a packed panel: NR floats per k, zero past the block's columns.
//  (Reading a row-major b in place instead halved the speed: its rows are
//  not 64-byte aligned and their strides collide in the caches.)
template <bool kTransposedA, int ROWS, int NV>
void tile(int64_t kc, const float* a, int64_t lda, int64_t rows, const float* b, float* c, int64_t ldc, int64_t cols,
          Store mode, float beta, const float* bias) {
  const __mmask16 mask[2] = {tail_mask(cols), tail_mask(cols - 16)};
  // The k-loop runs long enough to hide the misses on c's lines.
  for (int i = 0; i < ROWS; ++i)
    if (i < rows)
      for (int h = 0; h < NV; ++h) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * h), _MM_HINT_T0);
  __m512 acc[ROWS][NV];
  for (auto& row : acc)
    for (auto& v : row) v = _mm512_setzero_ps();
  const float* row_ptr[ROWS];
  for (int i = 0; i < ROWS; ++i) row_ptr[i] = a + std::min<int64_t>(i, rows - 1) * lda;
  for (int64_t k = 0; k < kc; ++k, b += NR) {
    __m512 bv[NV];
    for (int h = 0; h < NV; ++h) bv[h] = _mm512_load_ps(b + 16 * h);
#pragma GCC unroll 12
    for (int i = 0; i < ROWS; ++i) {
      const __m512 av = _mm512_set1_ps(kTransposedA ? a[i] : row_ptr[i][k]);
      for (int h = 0; h < NV; ++h) acc[i][h] = _mm512_fmadd_ps(av, bv[h], acc[i][h]);
    }
    if constexpr (kTransposedA) a += lda;
  }
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int i = 0; i < ROWS; ++i)
    if (i < rows) store_row<NV>(c + i * ldc, acc[i], mask[0], mask[1], mode, vb, bias);
}

// Picks the smallest register tile that covers rows x cols.
template <bool kTransposedA>
void any_tile(int64_t kc, const float* a, int64_t lda, int64_t rows, const float* b, float* c, int64_t ldc,
              int64_t cols, Store mode, float beta, const float* bias) {
#define TORCHLESS_TILE(R, V) tile<kTransposedA, R, V>(kc, a, lda, rows, b, c, ldc, cols, mode, beta, bias)
  if (cols > 16) {
    if (rows > 8) TORCHLESS_TILE(12, 2);
    else if (rows > 4) TORCHLESS_TILE(8, 2);
    else TORCHLESS_TILE(4, 2);
  } else {
    if (rows > 8) TORCHLESS_TILE(12, 1);
    else if (rows > 4) TORCHLESS_TILE(8, 1);
    else TORCHLESS_TILE(4, 1);
  }
#undef TORCHLESS_TILE
}

// The loops around the tile for one k-block of one n-block, b packed.
void block(int64_t m, int64_t nc, int64_t kc, SMatrix a, bool transposed_a, const float* b, float* c, int64_t ldc,
           Store mode, float beta, const float* bias, float* a_edge) {
  for (int64_t ic = 0; ic < m; ic += MR) {
    const int64_t rows = std::min(MR, m - ic);
    const float* a_tile = a.data + ic * a.row_stride;
    // A transposed tile reads whole 4/8/12-float groups: pack a ragged one.
    const bool packed_edge = transposed_a && rows % 4 != 0;
    if (packed_edge) pack_a_edge(rows, kc, {a_tile, a.row_stride, a.col_stride}, a_edge);
    float* c_row = c + ic * ldc;
    for (int64_t jr = 0; jr < nc; jr += NR) {
      const int64_t cols = std::min(NR, nc - jr);
      const float* panel = b + jr * kc;
      const float* bias_block = bias ? bias + jr : nullptr;
      if (packed_edge)
        any_tile<true>(kc, a_edge, MR, rows, panel, c_row + jr, ldc, cols, mode, beta, bias_block);
      else if (transposed_a)
        any_tile<true>(kc, a_tile, a.col_stride, rows, panel, c_row + jr, ldc, cols, mode, beta, bias_block);
      else
        any_tile<false>(kc, a_tile, a.row_stride, rows, panel, c_row + jr, ldc, cols, mode, beta, bias_block);
    }
  }
}

// How one product is cut: blocks of k (and of n) in order, and per block
// the work items, row tiles x column chunks, that threads take one at a time.
struct Plan {
  int64_t kc_max, k_blocks, n_blocks;
  int64_t tiles_per_item, row_items;     // row tiles of MR rows, grouped
  int64_t panels_per_chunk, col_chunks;  // panels of NR columns, grouped
  // Homes hold column chunks (each thread packs only its own columns of b)
  // rather than row tiles (each thread packs all of b, reads its rows of a).
  bool by_cols;
  int64_t items() const { return row_items * col_chunks; }
  int64_t blocks() const { return k_blocks * n_blocks; }
  int64_t row_of(int64_t item) const { return (by_cols ? item % row_items : item / col_chunks) * tiles_per_item * MR; }
  int64_t chunk_of(int64_t item) const { return by_cols ? item / row_items : item % col_chunks; }

  Plan(int64_t m, int64_t n, int64_t k, int threads) {
    k_blocks = (k + KC - 1) / KC;
    kc_max = (k + k_blocks - 1) / k_blocks;
    n_blocks = (n + NC - 1) / NC;
    const int64_t row_tiles = (m + MR - 1) / MR;
    const int64_t panels = (std::min(n, NC) + NR - 1) / NR;
    // By rows every thread packs all of b (k x n); by columns each packs its
    // share, and reads all of a in place instead. Columns where b is the
    // wider operand: x @ W^T of the MLP's first layer then packs half of W
    // per thread (the half that thread's Adam step wrote), and half of x in
    // its weight gradient. Measured on the whole training step (2 threads,
    // paired runs alternating): 0.96x the time at batch 256, 0.88x at 64.
    by_cols = threads > 1 && n > m && panels >= 2 * threads;
    int64_t chunks;
    if (by_cols) {
      chunks = std::min(panels, 4 * static_cast<int64_t>(threads));
    } else {
      // Enough items per block that the last one taken is a short tail; cut
      // columns only when rows are too few.
      const int64_t want = threads > 1 ? std::min<int64_t>(4 * threads, SgemmTeam::kMaxItems) : 1;
      chunks = std::clamp<int64_t>((want + row_tiles - 1) / row_tiles, 1, panels);
    }
    panels_per_chunk = (panels + chunks - 1) / chunks;
    col_chunks = (panels + panels_per_chunk - 1) / panels_per_chunk;
    const int64_t row_cap = SgemmTeam::kMaxItems / col_chunks;
    tiles_per_item = (row_tiles + row_cap - 1) / row_cap;
    row_items = (row_tiles + tiles_per_item - 1) / tiles_per_item;
  }
};

}  // namespace

void sgemm_avx512_team(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
                       const float* bias, SgemmTeam& team, int member) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // c = beta * c + bias: member 0 does it
    if (member != 0) return;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]) + (bias ? bias[j] : 0.0f);
    return;
  }
  const Plan plan(m, n, k, team.homes_);
  const bool transposed_a = a.row_stride == 1 && a.col_stride != 1;
  const int64_t packed_floats = plan.kc_max * (std::min(n, NC) + NR);
  // Grown before taking any work: a thread that throws here leaves no item
  // half done for the others to wait on.
  float* buffer = pack_buffer(packed_floats + plan.kc_max * MR);
  float* a_edge = buffer + packed_floats;
  const int64_t items = plan.items(), homes = std::min<int64_t>(team.homes_, items);
  int64_t packed = -1;  // which block (and chunk, by columns) the buffer holds
  const auto run = [&](int64_t blk, int64_t item) {
    const int64_t jc = blk / plan.k_blocks * NC, pc = blk % plan.k_blocks * plan.kc_max;
    const int64_t nc = std::min(NC, n - jc), kc = std::min(plan.kc_max, k - pc);
    const int64_t row0 = plan.row_of(item), chunk = plan.chunk_of(item);
    const int64_t col0 = chunk * plan.panels_per_chunk * NR;
    const int64_t rows = std::min(plan.tiles_per_item * MR, m - row0);
    const int64_t cols = std::min(plan.panels_per_chunk * NR, nc - col0);  // <= 0 in a narrow last n-block
    // By rows the buffer holds the whole block; by columns the chunk alone.
    const int64_t key = plan.by_cols ? blk * plan.col_chunks + chunk : blk;
    if (key != packed && cols > 0) {
      const int64_t from = plan.by_cols ? col0 : 0, width = plan.by_cols ? cols : nc;
      pack_b(kc, width, {b.data + pc * b.row_stride + (jc + from) * b.col_stride, b.row_stride, b.col_stride},
             buffer);
      packed = key;
    }
    const float* panels = buffer + (plan.by_cols ? 0 : col0 * kc);
    // The item's previous block may still be running on another thread: its
    // output must be complete before this one adds to it.
    std::atomic<int64_t>& done = team.done_[item];
    while (done.load(std::memory_order_acquire) != blk) _mm_pause();
    if (cols > 0) {
      const Store mode = pc > 0 ? Store::kAccumulate
                         : beta == 0.0f ? Store::kOverwrite
                         : beta == 1.0f ? Store::kAccumulate
                                        : Store::kScale;
      const SMatrix a_block{a.data + row0 * a.row_stride + pc * a.col_stride, a.row_stride, a.col_stride};
      const float* bias_block = bias && pc == 0 ? bias + jc + col0 : nullptr;
      block(rows, cols, kc, a_block, transposed_a, panels, c + row0 * ldc + jc + col0, ldc, mode, beta, bias_block,
            a_edge);
    }
    done.store(blk + 1, std::memory_order_release);
  };
  // This thread's home first, then what is left of the others'. A home hands
  // out its (block, item) pairs in order, every item of a block before the
  // next block's.
  for (int64_t visited = 0; visited < homes; ++visited) {
    const int64_t h = (member + visited) % homes;
    const int64_t first = items * h / homes, count = items * (h + 1) / homes - first;
    for (int64_t ticket; (ticket = team.next_[h].value.fetch_add(1, std::memory_order_relaxed)) < count * plan.blocks();)
      run(ticket / count, first + ticket % count);
  }
}

void sgemm_avx512(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
                  const float* bias) {
  SgemmTeam alone(1);
  sgemm_avx512_team(m, n, k, a, b, c, ldc, beta, bias, alone, 0);
}

#else

bool have_sgemm_avx512() { return false; }

void sgemm_avx512(int64_t, int64_t, int64_t, SMatrix, SMatrix, float*, int64_t, float, const float*) {
  throw std::logic_error("sgemm_avx512: this build has no AVX-512 kernel (built without -march=native?)");
}

void sgemm_avx512_team(int64_t, int64_t, int64_t, SMatrix, SMatrix, float*, int64_t, float, const float*,
                       SgemmTeam&, int) {
  throw std::logic_error("sgemm_avx512_team: this build has no AVX-512 kernel (built without -march=native?)");
}

#endif

}  // namespace torchless::cpu
