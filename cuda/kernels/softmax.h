#pragma once
// Row-wise log-softmax + NLL (cross-entropy) forward/backward and argmax, as
// the per-row math a CUDA block runs (one row per block, the max and sum
// combined with the same functions the block reduction uses).
#include <cmath>
#include <cstdint>

#include "cuda/kernels/hd.h"

namespace torchless::cuda::kernels {

// Reduction combine steps, so a tree reduction and a serial loop agree.
TORCHLESS_HD float combine_max(float a, float b) { return a > b || a != a ? a : b; }  // NaN propagates
TORCHLESS_HD float combine_sum(float a, float b) { return a + b; }

// Argmax combine on (value, index): larger value wins, ties go to the lower
// index (torch returns the first maximum), NaN counts as the maximum.
struct ArgmaxPair {
  float value;
  int64_t index;
};
TORCHLESS_HD ArgmaxPair combine_argmax(ArgmaxPair a, ArgmaxPair b) {
  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return a.index <= b.index ? a : b;
    return a_nan ? a : b;
  }
  if (a.value != b.value) return a.value > b.value ? a : b;
  return a.index <= b.index ? a : b;
}

// Stable log-sum-exp of one row: max + log(sum(exp(x - max))).
TORCHLESS_HD float row_logsumexp(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = combine_max(m, x[j]);
  if (m == -INFINITY || m != m) return m;
  float s = 0.0f;
  for (int64_t j = 0; j < n; ++j) s = combine_sum(s, expf(x[j] - m));
  return m + logf(s);
}

// Cross-entropy loss of one row for class `target`: lse - x[target].
TORCHLESS_HD float row_nll(const float* x, int64_t n, int64_t target) { return row_logsumexp(x, n) - x[target]; }

// d loss / d x[j] for one row, given the row's lse and an upstream scale
// (grad_output / batch for a mean reduction): scale * (softmax_j - [j == target]).
TORCHLESS_HD float row_nll_grad(float xj, float lse, bool is_target, float scale) {
  return scale * (expf(xj - lse) - (is_target ? 1.0f : 0.0f));
}

}  // namespace torchless::cuda::kernels
