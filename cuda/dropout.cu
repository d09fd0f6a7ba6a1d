// Dropout (and dropout after ReLU) with the counter-based Philox mask of
// cuda/kernels/philox.h. The backward recomputes the mask from (seed,
// offset, element) instead of storing it: the same bits, no memory.
#include "cuda/kernels/philox.h"
#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

__global__ void dropout_kernel(const float* x, float p, uint64_t seed, uint64_t offset, bool relu_first, float* out,
                               int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float v = relu_first ? (x[i] > 0.0f ? x[i] : 0.0f) : x[i];
    out[i] = kernels::dropout_element(v, p, seed, offset, static_cast<uint64_t>(i));
  }
}

// With relu_input: the gradient is 0 where relu did not pass x.
__global__ void dropout_backward_kernel(const float* g, const float* relu_input, float p, uint64_t seed,
                                        uint64_t offset, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const bool passed = relu_input == nullptr || relu_input[i] > 0.0f;
    out[i] = passed ? kernels::dropout_element(g[i], p, seed, offset, static_cast<uint64_t>(i)) : 0.0f;
  }
}

void check_pair(const Tensor& x, const Tensor& out, const char* op) {
  require_cuda(x, op, "input");
  require_cuda(out, op, "out");
  require_float32(x, op);
  if (out.dtype() != x.dtype() || out.sizes() != x.sizes() || !x.is_contiguous() || !out.is_contiguous() ||
      x.device() != out.device())
    throw std::invalid_argument(std::string(op) + " on CUDA: contiguous float32 input and output of one shape expected");
}

}  // namespace

void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, bool relu_first, const Tensor& out) {
  const char* name = "dropout";
  check_pair(x, out, name);
  const int64_t n = x.numel();
  if (n == 0) return;
  DeviceGuard guard(x.device().index);
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<const float*>(x.raw_data()),
                                                           static_cast<float>(p), seed, offset, relu_first,
                                                           static_cast<float*>(out.raw_data()), n);
  check_launch(name);
}

void dropout_backward(const Tensor& grad, const Tensor& relu_input, double p, uint64_t seed, uint64_t offset,
                      const Tensor& out) {
  const char* name = "dropout_backward";
  check_pair(grad, out, name);
  if (relu_input.defined()) check_pair(relu_input, out, name);
  const int64_t n = grad.numel();
  if (n == 0) return;
  DeviceGuard guard(grad.device().index);
  dropout_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(
      static_cast<const float*>(grad.raw_data()),
      relu_input.defined() ? static_cast<const float*>(relu_input.raw_data()) : nullptr, static_cast<float>(p), seed,
      offset, static_cast<float*>(out.raw_data()), n);
  check_launch(name);
}

}  // namespace torchless::cuda
