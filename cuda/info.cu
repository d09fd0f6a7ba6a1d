#include "cuda/info.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <exception>
#include <string>

#include "cuda/allocator.h"
#include "cuda/cublaslt_loader.h"

namespace torchless {

std::string cuda_runtime_summary() {
  std::string s = "toolkit " + std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  // Asking for the summary is asking about cuBLAS: this loads it.
  try {
    s += ", cuBLAS " + cuda::cublaslt_version();
  } catch (const std::exception& e) {
    s += std::string(", cuBLAS not loadable (") + e.what() + ")";
  }

  std::string why;
  const int n = cuda::device_count(&why);
  if (n == 0) return s + "; no CUDA device (" + why + ")";
  s += "; devices:";
  for (int i = 0; i < n; ++i) {
    s += (i ? ", cuda:" : " cuda:") + std::to_string(i) + " ";
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      (void)cudaGetLastError();
      s += "(properties unavailable)";
      continue;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, " (sm_%d%d, %.1f GiB)", p.major, p.minor,
                  static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    s += std::string(p.name) + buf;
  }
  return s;
}

}  // namespace torchless
