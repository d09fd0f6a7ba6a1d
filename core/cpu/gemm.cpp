#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12's AVX-512 intrinsics read a deliberately uninitialised "don't care"
// operand (_mm512_undefined_*) and, inlined into Eigen's transposes, warn
// about it at some optimisation levels (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "core/cpu/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/cpu/dispatch.h"
#include "core/cpu/sgemm_avx512.h"

namespace torchless::cpu {
namespace {

int thread_in_team() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

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
  return have_sgemm_avx512() && c.dtype() == DType::Float32 && a.dtype() == DType::Float32 &&
         b.dtype() == DType::Float32 && unit_stride(a) && unit_stride(b) && c.stride(1) == 1;
}

void gemm_eigen(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
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

// One contiguous range [begin, end) of the split dimension per thread.
struct Split {
  bool by_cols;
  int64_t step;
  int64_t len;
  int64_t begin(int part) const { return std::min(len, part * step); }
  int64_t end(int part, int parts) const { return part == parts - 1 ? len : std::min(len, (part + 1) * step); }
};

int64_t round_up(int64_t x, int64_t unit) { return (x + unit - 1) / unit * unit; }

// Splits c across `parts` threads along the dimension whose whole-tile
// split leaves the busiest thread the least work. Rows win near-ties: each
// thread then reads only its own rows of a and writes whole rows of c
// (measured on the MLP's GEMMs: as fast or up to 5% faster than columns,
// although every thread packs all of b).
Split choose_split(int64_t m, int64_t n, int parts, int64_t row_unit, int64_t col_unit) {
  const int64_t col_step = round_up((n + parts - 1) / parts, col_unit);
  const int64_t row_step = round_up((m + parts - 1) / parts, row_unit);
  const double col_work = double(std::min(n, col_step)) * round_up(m, row_unit);
  const double row_work = double(std::min(m, row_step)) * round_up(n, col_unit);
  if (row_work <= 1.05 * col_work) return {false, row_step, m};
  return {true, col_step, n};
}

}  // namespace

// float32 on AVX-512: the threads take the output's tiles one at a time
// (sgemm_avx512_team), so that a thread slowed by the machine does not hold
// the others up at the join. Measured before, with a fixed half per thread:
// the two halves of the MLP's GEMMs ended 3-15% apart in the median and up
// to 40% at the 99th percentile, on this 2-vCPU VM.
// Other dtypes: threads split the output into fixed blocks, each computed by
// a single-threaded Eigen GEMM: one join per GEMM. (Eigen's own parallel GEMM
// synchronises its threads while packing, spinning on shared counters; with
// a busy second core that spinning made it 20x slower than one thread.)
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias) {
  const int64_t m = c.size(0), n = c.size(1), k = a.size(1);
  const int threads = gemm_threads();
  // A thread joins for 128K FLOPs (about 1.5 us) of work: the MLP's last
  // layer (256 x 64 -> 10, 330K FLOPs per GEMM) went from 9-10 us on one
  // thread to 5-6 us on two.
  constexpr double kMinFlopsPerThread = 1 << 17;
  const int parts = std::max(1, static_cast<int>(std::min<double>(threads, 2.0 * m * n * k / kMinFlopsPerThread)));
  if (use_sgemm_avx512(a, b, c) && (!bias.defined() || bias.dtype() == DType::Float32)) {
    const Tensor row = bias.defined() ? bias.contiguous() : Tensor();
    const float* bias_data = row.defined() ? static_cast<const float*>(row.raw_data()) : nullptr;
    const SMatrix A = as_smatrix(a), B = as_smatrix(b);
    float* C = static_cast<float*>(c.raw_data());
    const int64_t ldc = std::max<int64_t>(c.stride(0), n);
    SgemmTeam team(parts);
    std::exception_ptr error;  // a thread's first packing buffer can fail to allocate
#pragma omp parallel num_threads(parts) if (parts > 1)
    try {
      sgemm_avx512_team(m, n, k, A, B, C, ldc, 0.0f, bias_data, team, thread_in_team());
    } catch (...) {
#pragma omp critical(torchless_gemm_error)
      if (!error) error = std::current_exception();
    }
    if (error) std::rethrow_exception(error);
    return;
  }
  // An exception must not escape the parallel region (std::terminate):
  // refuse dtypes that cannot compute here, before it.
  dispatch_float(c.dtype(), "matmul", [](auto) {});
  double beta = 0.0;
  if (bias.defined()) {  // start from the bias, the GEMM adds on top
    Tensor(c).copy_(bias.unsqueeze(0).expand(c.sizes()));
    beta = 1.0;
  }
  const Split split = choose_split(m, n, parts, 16, 16);
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t begin = split.begin(p), end = split.end(p, parts);
    if (begin >= end) continue;
    if (split.by_cols) gemm_eigen(a, b.narrow(1, begin, end - begin), c.narrow(1, begin, end - begin), beta);
    else gemm_eigen(a.narrow(0, begin, end - begin), b, c.narrow(0, begin, end - begin), beta);
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
