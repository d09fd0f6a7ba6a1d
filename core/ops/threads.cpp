// The CPU kernels' threads: how many, their float mode, and what the kernels
// were compiled for.
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <Eigen/Core>
#include <atomic>
#include <stdexcept>

#include "core/cpu/gemm.h"
#include "core/cpu/sgemm_avx512.h"
#include "core/ops.h"

namespace torchless {
namespace {

std::atomic<bool> g_flush{false};
std::atomic<bool> g_flush_ever_set{false};

#if defined(__SSE2__)
constexpr unsigned kFtz = 1u << 15;  // results that would be denormal become zero
constexpr unsigned kDaz = 1u << 6;   // denormal inputs are read as zero

void set_this_thread(bool on) {
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? csr | kFtz | kDaz : csr & ~(kFtz | kDaz));
}

// MXCSR is per thread: the calling thread and OpenMP's current team are set
// here. Threads OpenMP starts later copy the mode of the thread that starts
// them; pool threads parked outside the current team keep theirs, so a new
// thread count applies the mode again (set_num_threads).
void apply_everywhere(bool on) {
  set_this_thread(on);
#ifdef _OPENMP
#pragma omp parallel num_threads(omp_get_max_threads())
  set_this_thread(on);
#endif
}
#endif

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need at least 1 thread, got " + std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  // Parallelism is ours (cpu::gemm splits the output, loops use OpenMP);
  // Eigen itself stays single-threaded.
  Eigen::setNbThreads(1);
  cpu::set_gemm_threads(n);
#if defined(__SSE2__)
  if (g_flush_ever_set.load(std::memory_order_relaxed)) apply_everywhere(g_flush.load(std::memory_order_relaxed));
#endif
}

int get_num_threads() { return cpu::gemm_threads(); }

bool set_flush_denormal(bool on) {
#if defined(__SSE2__)
  g_flush.store(on, std::memory_order_relaxed);
  g_flush_ever_set.store(true, std::memory_order_relaxed);
  apply_everywhere(on);
  return true;
#else
  (void)on;
  return false;
#endif
}

bool flush_denormal() { return g_flush.load(std::memory_order_relaxed); }

// Asked here, in the library, because the answer depends on the flags the
// kernels were compiled with, not those of the caller.
const char* simd_instruction_sets() { return Eigen::SimdInstructionSetsInUse(); }

const char* float32_gemm_kernel() { return cpu::have_sgemm_avx512() ? "AVX-512 (torchless)" : "Eigen"; }

}  // namespace torchless
