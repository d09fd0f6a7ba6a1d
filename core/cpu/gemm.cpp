#include "core/cpu/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <thread>

#include "core/cpu/dispatch.h"
#include "core/cpu/sgemm_avx512.h"

namespace torchless::cpu {
namespace {

template <typename T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, 0, Eigen::OuterStride<>>;

template <typename T, int Order>
MatMap<T, Order> as_matrix(const Tensor& t) {
  const int64_t outer = Order == Eigen::RowMajor ? t.stride(0) : t.stride(1);
  // A size-1 dim may carry any stride; give Eigen a consistent one.
  const int64_t fallback = Order == Eigen::RowMajor ? t.size(1) : t.size(0);
  const bool degenerate = Order == Eigen::RowMajor ? t.size(0) == 1 : t.size(1) == 1;
  return MatMap<T, Order>(static_cast<const T*>(t.raw_data()), t.size(0), t.size(1),
                          Eigen::OuterStride<>(degenerate ? std::max<int64_t>(fallback, 1) : outer));
}

bool row_major(const Tensor& t) { return t.stride(1) == 1 || (t.size(1) == 1 && t.stride(0) != 1); }

template <typename T, int OA, int OB>
void run(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  // c may be a column block of a wider matrix: row stride c.stride(0).
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>> C(
      static_cast<T*>(c.raw_data()), c.size(0), c.size(1), Eigen::OuterStride<>(std::max<int64_t>(c.stride(0), c.size(1))));
  auto A = as_matrix<T, OA>(a);
  auto B = as_matrix<T, OB>(b);
  if (beta == 0.0) C.noalias() = A * B;
  else if (beta == 1.0) C.noalias() += A * B;
  else {
    C *= static_cast<T>(beta);
    C.noalias() += A * B;
  }
}

}  // namespace

bool gemm_compatible(const Tensor& t) {
  if (t.dim() != 2) return false;
  const bool rows_ok = t.size(0) == 1 || t.stride(0) > 0;
  const bool cols_ok = t.size(1) == 1 || t.stride(1) > 0;
  return rows_ok && cols_ok && (t.stride(1) == 1 || t.stride(0) == 1 || t.size(0) == 1 || t.size(1) == 1);
}

namespace {

SMatrix as_smatrix(const Tensor& t) {
  return {static_cast<const float*>(t.raw_data()), t.stride(0), t.stride(1)};
}

bool unit_stride(const Tensor& t) { return t.stride(0) == 1 || t.stride(1) == 1; }

bool use_sgemm_avx512(const Tensor& a, const Tensor& b, const Tensor& c) {
  return have_sgemm_avx512() && c.dtype() == DType::Float32 && unit_stride(a) && unit_stride(b) && c.stride(1) == 1;
}

void gemm_serial(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  if (use_sgemm_avx512(a, b, c)) {
    sgemm_avx512(c.size(0), c.size(1), a.size(1), as_smatrix(a), as_smatrix(b), static_cast<float*>(c.raw_data()),
                 std::max<int64_t>(c.stride(0), c.size(1)), static_cast<float>(beta));
    return;
  }
  dispatch_float(c.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
    const bool ra = row_major(a), rb = row_major(b);
    if (ra && rb) run<T, R, R>(a, b, c, beta);
    else if (ra) run<T, R, C>(a, b, c, beta);
    else if (rb) run<T, C, R>(a, b, c, beta);
    else run<T, C, C>(a, b, c, beta);
  });
}

}  // namespace

// Threads split the output into independent blocks, each computed by a
// single-threaded Eigen GEMM: one join per GEMM. (Eigen's own parallel GEMM
// synchronises its threads while packing, spinning on shared counters; with
// a busy second core that spinning made it 20x slower than one thread.)
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  const int64_t m = c.size(0), n = c.size(1), k = a.size(1);
  const int threads = gemm_threads();
  constexpr double kMinFlopsPerThread = 1 << 20;
  const int parts = static_cast<int>(std::min<double>(threads, 2.0 * m * n * k / kMinFlopsPerThread));
  if (parts <= 1) {
    gemm_serial(a, b, c, beta);
    return;
  }
  // Split the longer output dimension, in whole register tiles.
  const bool by_cols = n >= m;
  const int64_t len = by_cols ? n : m;
  const int64_t unit = !use_sgemm_avx512(a, b, c) ? 16 : by_cols ? kSgemmTileCols : kSgemmTileRows;
  const int64_t step = (len / parts + unit - 1) / unit * unit;
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t start = std::min<int64_t>(len, p * step);
    const int64_t end = p == parts - 1 ? len : std::min<int64_t>(len, (p + 1) * step);
    if (start >= end) continue;
    if (by_cols) gemm_serial(a, b.narrow(1, start, end - start), c.narrow(1, start, end - start), beta);
    else gemm_serial(a.narrow(0, start, end - start), b, c.narrow(0, start, end - start), beta);
  }
}

}  // namespace torchless::cpu

namespace torchless::cpu {
namespace {
std::atomic<int> g_threads{0};  // 0: not set yet -> all cores
}
int gemm_threads() {
  const int t = g_threads.load(std::memory_order_relaxed);
  if (t > 0) return t;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}
void set_gemm_threads(int n) { g_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed); }
}  // namespace torchless::cpu
