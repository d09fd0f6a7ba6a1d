#pragma once
// Checked CUDA runtime calls. The macro evaluates `expr` once and, on failure,
// throws std::runtime_error naming the file, line, expression and the error
// (cudaGetErrorName/cudaGetErrorString). cuBLASLt calls have their own check
// in cuda/cublaslt_api.h: cuBLAS is loaded on first use, not linked.
//
// For the CUDA sources only: this header includes the toolkit's headers. The
// public headers under cuda/ (allocator.h, info.h) do not, so code outside
// cuda/ never needs CUDA include paths.
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace torchless::cuda::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  // Clear the (non-sticky) error so it is not reported again by the next call.
  (void)cudaGetLastError();
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                           cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace torchless::cuda::detail

#define TORCHLESS_CUDA_CHECK(expr)                                                          \
  do {                                                                                      \
    const cudaError_t torchless_cuda_err_ = (expr);                                         \
    if (torchless_cuda_err_ != cudaSuccess)                                                 \
      ::torchless::cuda::detail::throw_cuda_error(torchless_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)
