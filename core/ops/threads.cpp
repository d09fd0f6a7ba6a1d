// Thread count for CPU kernels, and what they were compiled for.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <Eigen/Core>
#include <stdexcept>

#include "core/cpu/gemm.h"
#include "core/cpu/sgemm_avx512.h"
#include "core/ops.h"

namespace torchless {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need at least 1 thread, got " + std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  // Parallelism is ours (cpu::gemm splits the output, loops use OpenMP);
  // Eigen itself stays single-threaded.
  Eigen::setNbThreads(1);
  cpu::set_gemm_threads(n);
  // Threads the new count adds take the calling thread's float mode, but
  // pool threads parked since the mode changed keep their old one.
  if (flush_denormal()) set_flush_denormal(true);
}

int get_num_threads() { return cpu::gemm_threads(); }

// Asked here, in the library, because the answer depends on the flags the
// kernels were compiled with, not those of the caller.
const char* simd_instruction_sets() { return Eigen::SimdInstructionSetsInUse(); }

const char* float32_gemm_kernel() { return cpu::have_sgemm_avx512() ? "AVX-512 (torchless)" : "Eigen"; }

}  // namespace torchless
