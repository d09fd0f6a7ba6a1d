// Host half of the CUDA cross-entropy and argmax kernels, against a double
// precision reference and hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/kernels/softmax.h"

namespace k = torchless::cuda::kernels;

TEST(CudaSoftmaxHost, NllMatchesDoubleReferenceAndIsStableForLargeLogits) {
  const std::vector<float> x = {1000.f, 1001.f, 999.5f, -3.f};
  double m = 1001, s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  const double lse = m + std::log(s);
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(k::row_nll(x.data(), 4, t), lse - x[t], 1e-4) << t;
  EXPECT_TRUE(std::isfinite(k::row_nll(x.data(), 4, 0)));
}

TEST(CudaSoftmaxHost, GradIsSoftmaxMinusOneHotAndSumsToZero) {
  const std::vector<float> x = {0.5f, -1.f, 2.f};
  const float lse = k::row_logsumexp(x.data(), 3);
  double total = 0;
  for (int j = 0; j < 3; ++j) {
    const float g = k::row_nll_grad(x[j], lse, j == 2, 0.5f);
    const double want = 0.5 * (std::exp(double(x[j]) - double(lse)) - (j == 2));
    EXPECT_NEAR(g, want, 1e-6);
    total += g;
  }
  EXPECT_NEAR(total, 0.0, 1e-6);
}

TEST(CudaSoftmaxHost, ArgmaxTakesFirstMaximumLikeTorch) {
  const std::vector<float> x = {1.f, 3.f, 2.f, 3.f};
  k::ArgmaxPair acc{-std::numeric_limits<float>::infinity(), 0};
  for (int j = 0; j < 4; ++j) acc = k::combine_argmax(acc, {x[j], j});
  EXPECT_EQ(acc.index, 1);
  // Tree order (pairs, then pairs of pairs) gives the same answer.
  const auto left = k::combine_argmax({x[0], 0}, {x[1], 1});
  const auto right = k::combine_argmax({x[2], 2}, {x[3], 3});
  EXPECT_EQ(k::combine_argmax(right, left).index, 1);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(k::combine_argmax({5.f, 0}, {nan, 2}).index, 2);
}
