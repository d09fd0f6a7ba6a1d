// Flush-to-zero mode for the CPU kernels' threads (x86 MXCSR).
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <atomic>

#include "core/ops.h"

namespace torchless {
namespace {

std::atomic<bool> g_flush{false};

#if defined(__SSE2__)
constexpr unsigned kFtz = 1u << 15;  // results that would be denormal become zero
constexpr unsigned kDaz = 1u << 6;   // denormal inputs are read as zero

void set_this_thread(bool on) {
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? csr | kFtz | kDaz : csr & ~(kFtz | kDaz));
}
#endif

}  // namespace

bool set_flush_denormal(bool on) {
#if defined(__SSE2__)
  g_flush.store(on, std::memory_order_relaxed);
  set_this_thread(on);
  // MXCSR is per thread. OpenMP's workers already running are set here;
  // those it starts later copy the state of the thread that starts them.
#ifdef _OPENMP
#pragma omp parallel num_threads(omp_get_max_threads())
  set_this_thread(on);
#endif
  return true;
#else
  (void)on;
  return false;
#endif
}

bool flush_denormal() { return g_flush.load(std::memory_order_relaxed); }

}  // namespace torchless
