#pragma once
// torch.nn.functional: stateless layers and losses with their gradients.
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

}  // namespace torchless::nn::functional
