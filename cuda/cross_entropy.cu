// Fused log-softmax + cross-entropy (mean over rows), forward and backward,
// with cuda/kernels/softmax.h's row math. One thread per row forward: the
// classifier rows are short (10 classes), so a block per row would idle.
#include <cmath>

#include "cuda/kernels/softmax.h"
#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

__global__ void ce_rows_kernel(const float* x, const int64_t* target, int64_t b, int64_t c, float* lse,
                               float* row_loss) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < b; i += int64_t{gridDim.x} * blockDim.x) {
    const float* row = x + i * c;
    const float l = kernels::row_logsumexp(row, c);
    lse[i] = l;
    const int64_t t = target[i];
    row_loss[i] = t >= 0 && t < c ? l - row[t] : NAN;
  }
}

// The mean of the row losses in double, by one block.
__global__ void ce_mean_kernel(const float* row_loss, int64_t b, float* loss) {
  __shared__ double partial[kThreads];
  double acc = 0;
  for (int64_t i = threadIdx.x; i < b; i += blockDim.x) acc += static_cast<double>(row_loss[i]);
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = b ? static_cast<float>(partial[0] / static_cast<double>(b)) : NAN;
}

__global__ void ce_backward_kernel(const float* x, const int64_t* target, const float* lse, const float* grad_loss,
                                   int64_t b, int64_t c, float* grad) {
  const float scale = static_cast<float>(static_cast<double>(*grad_loss) / static_cast<double>(b));
  const int64_t n = b * c;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / c, j = i % c;
    grad[i] = kernels::row_nll_grad(x[i], lse[row], target[row] == j, scale);
  }
}

void check_args(const Tensor& logits, const Tensor& target, const Tensor& lse, const char* op) {
  require_cuda(logits, op, "logits");
  require_cuda(target, op, "target");
  require_cuda(lse, op, "lse");
  require_float32(logits, op);
  if (logits.dim() != 2 || !logits.is_contiguous() || target.dtype() != DType::Int64 || target.dim() != 1 ||
      target.size(0) != logits.size(0) || !target.is_contiguous() || lse.numel() != logits.size(0) ||
      lse.dtype() != DType::Float32 || logits.device() != target.device())
    throw std::invalid_argument(std::string(op) + " on CUDA: expected contiguous logits [B, C], int64 target [B] and "
                                "float32 lse [B] on one device, got " + shape_str(logits.sizes()) + " and " +
                                shape_str(target.sizes()));
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& loss) {
  const char* name = "cross_entropy";
  check_args(logits, target, lse, name);
  require_cuda(loss, name, "loss");
  const int64_t b = logits.size(0), c = logits.size(1);
  DeviceGuard guard(logits.device().index);
  Tensor row_loss = empty({b}, DType::Float32, logits.device());
  if (b > 0 && c > 0) {
    ce_rows_kernel<<<blocks_for(b), kThreads, 0, stream()>>>(
        static_cast<const float*>(logits.raw_data()), static_cast<const int64_t*>(target.raw_data()), b, c,
        static_cast<float*>(lse.raw_data()), static_cast<float*>(row_loss.raw_data()));
    check_launch(name);
  }
  ce_mean_kernel<<<1, kThreads, 0, stream()>>>(static_cast<const float*>(row_loss.raw_data()), c > 0 ? b : 0,
                                               static_cast<float*>(loss.raw_data()));
  check_launch(name);
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& grad_loss,
                            const Tensor& grad_logits) {
  const char* name = "cross_entropy_backward";
  check_args(logits, target, lse, name);
  require_cuda(grad_loss, name, "grad_loss");
  require_cuda(grad_logits, name, "grad_logits");
  if (grad_loss.numel() != 1 || grad_loss.dtype() != DType::Float32 || grad_logits.sizes() != logits.sizes() ||
      !grad_logits.is_contiguous() || grad_logits.dtype() != DType::Float32)
    throw std::invalid_argument("cross_entropy_backward on CUDA: bad grad_loss or grad_logits");
  const int64_t b = logits.size(0), c = logits.size(1);
  if (b * c == 0) return;
  DeviceGuard guard(logits.device().index);
  ce_backward_kernel<<<blocks_for(b * c), kThreads, 0, stream()>>>(
      static_cast<const float*>(logits.raw_data()), static_cast<const int64_t*>(target.raw_data()),
      static_cast<const float*>(lse.raw_data()), static_cast<const float*>(grad_loss.raw_data()), b, c,
      static_cast<float*>(grad_logits.raw_data()));
  check_launch(name);
}

}  // namespace torchless::cuda
