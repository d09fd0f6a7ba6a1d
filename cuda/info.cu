#include "cuda/info.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>

#include "cuda/allocator.h"

namespace torchless {

std::string cuda_runtime_summary() {
  std::string s = "toolkit " + std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    s += ", cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  else
    s += ", cuBLAS (version unknown)";

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
