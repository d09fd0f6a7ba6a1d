#pragma once
// torch.nn.functional: stateless layers and losses with their gradients.
#include <array>
#include <string>

#include "core/ops.h"
#include "core/tensor.h"

namespace torchless {
class Generator;
}

namespace torchless::nn::functional {

using torchless::linear;
using torchless::relu;

/// Inverted dropout: zeroes each element with probability p and scales the
/// rest by 1/(1-p) while training; identity otherwise. Throws on p outside [0, 1].
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);
/// dropout(relu(x), p, training, gen) as one op: the same values and
/// gradient (same generator draw, same mask) in one pass over x forward and
/// one over the gradient backward, instead of three and two. Throws on p
/// outside [0, 1] or a non-float x.
Tensor dropout_relu(const Tensor& x, double p, bool training, Generator* gen = nullptr);
/// log(softmax(x)) along `dim`, computed stably (x - max - log(sum(exp))).
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
/// Mean negative log-likelihood: -mean(logp[i, target[i]]).
/// logp: [B, C] float, target: [B] int64 in [0, C). Throws naming a bad target.
Tensor nll_loss(const Tensor& logp, const Tensor& target);
/// nll_loss(log_softmax(logits)), fused: one pass forward, softmax - onehot back.
Tensor cross_entropy(const Tensor& logits, const Tensor& target);
/// exp(log_softmax(x, dim)): probabilities along `dim`.
Tensor softmax(const Tensor& x, int64_t dim = -1);
/// Gaussian error linear unit: x * Phi(x) with `approximate` "none" (erf), or
/// "tanh" (torch's tanh approximation). Throws on another `approximate`.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");

// ---- convolution and pooling (nn/functional_conv.cpp, nn/functional_pool.cpp) ----
// Inputs are [N, C, H, W] or unbatched [C, H, W] (the output then has no batch
// dim either), float32 or float64 on the CPU. Pairs are (height, width).
// Every shape or argument problem throws std::invalid_argument naming the op,
// the argument and the shapes.

/// Output size of a sliding window along one dim: floor((in + 2*pad -
/// dilation*(kernel-1) - 1) / stride) + 1, rounded up instead with ceil_mode
/// (a last window that starts inside the input or its left padding only).
int64_t pooled_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode);

/// torch.nn.functional.conv2d: x [N, C, H, W], weight [OC, C/groups, KH, KW],
/// bias [OC] or undefined -> [N, OC, OH, OW]. im2col + one GEMM per group.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::array<int64_t, 2> stride = {1, 1},
              std::array<int64_t, 2> padding = {0, 0}, std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1);
/// Max over each window (padding is -inf, at most half the kernel); the
/// gradient goes to the first maximum of each window, as torch's does.
Tensor max_pool2d(const Tensor& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding = {0, 0}, std::array<int64_t, 2> dilation = {1, 1},
                  bool ceil_mode = false);
/// Mean over each window; divides by the window's size including padding
/// (count_include_pad) or not, or by divisor_override when it is > 0.
Tensor avg_pool2d(const Tensor& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                  std::array<int64_t, 2> padding = {0, 0}, bool ceil_mode = false, bool count_include_pad = true,
                  int64_t divisor_override = 0);
/// Mean over the windows [floor(i*H/OH), ceil((i+1)*H/OH)) (torch's adaptive
/// pooling) -> [N, C, OH, OW].
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);

// ---- normalisation (nn/functional_norm.cpp) ----
/// torch.nn.functional.batch_norm over x [N, C, ...] per channel C. In
/// training (or without running statistics) it normalises with the batch's
/// mean and biased variance and, when running_mean/running_var are given,
/// updates them in place: running = (1 - momentum) * running + momentum *
/// batch statistic, the variance's unbiased (n/(n-1)). Otherwise it uses the
/// running statistics. weight/bias [C] may be undefined (no affine).
/// Throws when a channel has one value in training, or on shape mismatches.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace torchless::nn::functional
