// Thread count for CPU kernels: Eigen's GEMM parallelises with OpenMP.
#ifdef _OPENMP
#include <omp.h>
#endif

#include <Eigen/Core>
#include <stdexcept>

#include "core/ops.h"

namespace torchless {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need at least 1 thread, got " + std::to_string(n));
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}

int get_num_threads() { return Eigen::nbThreads(); }

}  // namespace torchless
