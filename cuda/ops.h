#pragma once
// The CUDA backend's kernels, as core's ops call them for tensors on a CUDA
// device (core/ops/*.cpp, nn/functional.cpp, optim/adam.cpp, Tensor::copy_
// and fill_). Plain C++: no CUDA headers. Exists only in a torchless built
// with the CUDA backend (TORCHLESS_WITH_CUDA).
//
// Every function queues its work on the backend's one stream (the legacy
// default stream, which cuda/allocator.cu's block reuse relies on) and
// returns without waiting for the device: no host synchronisation, no
// cudaMalloc beyond what the caching allocator does. The caller has checked
// shapes and allocated the outputs on the operands' device; these check only
// what they themselves need (device, dtype, rank) and throw
// std::invalid_argument naming the op for anything else, or
// std::runtime_error when CUDA or cuBLASLt fails.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "cuda/kernels/elementwise.h"

namespace torchless::cuda {

using kernels::BinaryOp;
using kernels::UnaryOp;

/// out = op(a, b) per element. a and b have out's shape (broadcast operands
/// expanded: stride 0) and one dtype, float32 or float64, any strides; out is
/// contiguous, of that dtype, or bool for comparisons. At most 8 dims.
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
/// out = op(a, scalar) per element; a float32/float64, any strides; out contiguous, a's shape and dtype.
void unary(UnaryOp op, const Tensor& a, double scalar, const Tensor& out);
/// dst = src for one shape, dtype and device, any strides on both sides (src may be expanded).
void copy_strided(const Tensor& dst, const Tensor& src);
/// Every element of t (any dtype, any strides) = value converted to t's dtype as the CPU converts it.
void fill(const Tensor& t, double value);

/// out = the sum of a over the dims where mask[d] is true, accumulated in
/// double (as the CPU does). out is contiguous, a's dtype (float32/float64),
/// with a's shape where mask is false and 1 where it is true (keepdim).
void sum(const Tensor& a, const std::vector<bool>& mask, const Tensor& out);
/// out = the index of the largest element along `dim` (first on ties, NaN
/// counts as largest). a float32, any strides; out int64, contiguous, a's
/// shape without `dim`.
void argmax(const Tensor& a, int64_t dim, const Tensor& out);

/// out[m, n] = a[m, k] @ b[k, n] (+ bias[n] on every row) through cuBLASLt
/// with its bias epilogue. float32 (FP32 compute, no TF32) or float64; a and
/// b may be transposed views; out contiguous; k > 0; bias undefined or
/// contiguous [n]. Throws std::runtime_error naming libcublasLt when it
/// cannot be loaded.
void gemm(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias);

/// Fused log-softmax + NLL, mean over rows. logits [B, C] float32
/// contiguous, target int64 [B] contiguous (a target outside [0, C) gives a
/// NaN loss: the host cannot check device values without a synchronisation).
/// Writes each row's log-sum-exp into lse [B] (kept for backward) and the
/// mean loss into the 0-dim `loss`.
void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& lse, const Tensor& loss);
/// grad_logits = (softmax(logits) - onehot(target)) * grad_loss / B, reading
/// the 0-dim grad_loss on the device.
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& lse,
                            const Tensor& grad_loss, const Tensor& grad_logits);

/// Inverted dropout with the Philox mask of cuda/kernels/philox.h: out[i] =
/// dropout_element(relu_first ? relu(x[i]) : x[i], p, seed, offset, i).
/// x and out contiguous float32 of one shape.
void dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset, bool relu_first, const Tensor& out);
/// The gradient of dropout (relu_input undefined) or of dropout(relu(x))
/// (relu_input = x): the same mask recomputed from (seed, offset, i), so no
/// mask is stored. All contiguous float32 of one shape.
void dropout_backward(const Tensor& grad, const Tensor& relu_input, double p, uint64_t seed, uint64_t offset,
                      const Tensor& out);

/// One parameter of a multi-tensor Adam step: all contiguous, one dtype
/// (float32 or float64), one device; max_exp_avg_sq only with amsgrad.
/// `step` is the parameter's step count after this update.
struct AdamParam {
  Tensor param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
  double step = 0;
};
struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
};
/// Updates every parameter in place with optim/adam.cpp's math
/// (cuda/kernels/adam.h), in as few launches as the kernel's parameter
/// table allows (32 tensors a launch).
void adam_step(const std::vector<AdamParam>& params, const AdamHyper& h);

}  // namespace torchless::cuda
