#pragma once
// What every kernel launcher shares: the stream, the grid size, the device
// guard, the launch check and a tensor's BroadcastMap. For the CUDA sources
// only (includes the toolkit's headers).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/tensor.h"
#include "cuda/check.h"
#include "cuda/kernels/broadcast.h"

namespace torchless::cuda {

// The backend's one stream: the default stream, which is the legacy one
// (nothing here is built with per-thread default streams), the one
// cudaMemcpy uses. cuda/allocator.cu hands a freed block to later work
// without an event because everything, kernels and copies, runs in this
// one order.
inline cudaStream_t stream() { return nullptr; }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: each thread loops).
inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, 65535 * 8));
}

// A launch error (bad configuration, no kernel image for this GPU) shows at
// once; errors inside the kernel show at the next synchronising call. This
// does not wait for the device.
inline void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": kernel launch failed: " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
}

// Makes `index` the current device for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index) {
    TORCHLESS_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != index) {
      TORCHLESS_CUDA_CHECK(cudaSetDevice(index));
      switched_ = true;
    }
  }
  ~DeviceGuard() {
    if (switched_) (void)cudaSetDevice(previous_);  // a destructor must not throw
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

// Throws unless t is defined and on a CUDA device.
inline void require_cuda(const Tensor& t, const char* op, const char* name) {
  if (!t.defined() || !t.device().is_cuda())
    throw std::invalid_argument(std::string(op) + ": " + name + " must be a CUDA tensor");
}

// Throws unless t is float32 (the kernels written so far).
inline void require_float32(const Tensor& t, const char* op) {
  if (t.dtype() != DType::Float32)
    throw std::invalid_argument(std::string(op) + ": CUDA kernel supports float32 only, got " +
                                std::string(dtype_name(t.dtype())));
}

// t's own sizes and strides as a map from a row-major linear index over
// its shape to its element offset (from t's first element).
inline kernels::BroadcastMap map_of(const Tensor& t, const char* op) {
  if (t.dim() > kernels::kMaxDims)
    throw std::invalid_argument(std::string(op) + ": CUDA kernels take at most " +
                                std::to_string(kernels::kMaxDims) + " dims, got " + shape_str(t.sizes()));
  kernels::BroadcastMap m{};
  m.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < m.ndim; ++d) {
    m.sizes[d] = t.size(d);
    m.strides[d] = t.size(d) == 1 ? 0 : t.stride(d);
  }
  return m;
}

}  // namespace torchless::cuda
