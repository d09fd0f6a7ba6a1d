// Thread count for CPU kernels: Eigen's GEMM parallelises with OpenMP.
#include <omp.h>

#include <Eigen/Core>
#include <stdexcept>

#include "core/ops.h"

namespace torchless {

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("set_num_threads: need at least 1 thread, got " + std::to_string(n));
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() { return Eigen::nbThreads(); }

}  // namespace torchless
