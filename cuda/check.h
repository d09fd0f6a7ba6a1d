#pragma once
// Checked CUDA runtime and cuBLAS calls. Each macro evaluates `expr` once and,
// on failure, throws std::runtime_error naming the file, line, expression and
// the error (cudaGetErrorName/cudaGetErrorString, or the cuBLAS status name).
//
// For the CUDA sources only: this header includes the toolkit's headers. The
// public headers under cuda/ (allocator.h, info.h) do not, so code outside
// cuda/ never needs CUDA include paths.
#include <cublas_v2.h>
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

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                           cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
}

}  // namespace torchless::cuda::detail

#define TORCHLESS_CUDA_CHECK(expr)                                                          \
  do {                                                                                      \
    const cudaError_t torchless_cuda_err_ = (expr);                                         \
    if (torchless_cuda_err_ != cudaSuccess)                                                 \
      ::torchless::cuda::detail::throw_cuda_error(torchless_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define TORCHLESS_CUBLAS_CHECK(expr)                                                            \
  do {                                                                                          \
    const cublasStatus_t torchless_cublas_status_ = (expr);                                     \
    if (torchless_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::torchless::cuda::detail::throw_cublas_error(torchless_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)
