// Conv2d, pooling, BatchNorm, GELU, softmax, Flatten: float64 central
// finite differences against autograd, hand-computed values, and the errors
// bad shapes and arguments give.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/functional.h"
#include "nn/pooling.h"
#include "nn/shape_layers.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

using namespace torchless;
namespace F = torchless::nn::functional;
using torchless::test::message_of;
using torchless::test::rnd;
using torchless::test::contains;

TEST(ConvGrad, StridePaddingDilationGroupsBias) {
  // (stride, padding, dilation, groups) combinations over one input.
  struct Case { std::array<int64_t, 2> s, p, d; int64_t g; bool bias; };
  for (const Case& c : {Case{{1, 1}, {0, 0}, {1, 1}, 1, true}, Case{{2, 1}, {1, 0}, {1, 1}, 1, true},
                        Case{{1, 2}, {2, 1}, {2, 1}, 2, false}, Case{{2, 2}, {1, 1}, {1, 2}, 4, true}}) {
    const int64_t C = 4, OC = 4;
    Tensor x = rnd({2, C, 6, 5}, 1), w = rnd({OC, C / c.g, 3, 2}, 2), b = rnd({OC}, 3);
    const std::vector<Tensor> in = c.bias ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w};
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& t) { return F::conv2d(t[0], t[1], c.bias ? t[2] : Tensor(), c.s, c.p, c.d, c.g); },
        in)
        << "stride " << c.s[0] << "," << c.s[1] << " groups " << c.g;
  }
}

TEST(ConvValues, HandComputed) {
  // A 1x1x3x3 ramp with a 2x2 all-ones kernel: each output sums a 2x2 block.
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}, DType::Float64);
  Tensor w = ones({1, 1, 2, 2}, DType::Float64);
  EXPECT_EQ(F::conv2d(x, w, Tensor()).to_vector(), (std::vector<double>{12, 16, 24, 28}));
  // padding 1, stride 2: the corners' windows hold one, two or four values.
  EXPECT_EQ(F::conv2d(x, w, from_vector(std::vector<double>{0.5}, {1}, DType::Float64), {2, 2}, {1, 1}).to_vector(),
            (std::vector<double>{1.5, 5.5, 11.5, 28.5}));
  // Unbatched input keeps its shape.
  EXPECT_EQ(F::conv2d(x.squeeze(0), w, Tensor()).sizes(), (Shape{1, 2, 2}));
}

TEST(PoolGrad, MaxAvgAdaptive) {
  // Distinct values, so that no window has a tie and max is differentiable.
  Tensor x = rnd({2, 3, 7, 6}, 5);
  EXPECT_GRADCHECK([](auto& t) { return F::max_pool2d(t[0], {2, 2}, {2, 2}); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::max_pool2d(t[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, true); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::max_pool2d(t[0], {2, 2}, {1, 1}, {0, 0}, {2, 2}); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::avg_pool2d(t[0], {2, 2}, {2, 2}); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::avg_pool2d(t[0], {3, 3}, {2, 2}, {1, 1}, true, false); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::avg_pool2d(t[0], {3, 2}, {2, 1}, {1, 1}, true, true, 5); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::adaptive_avg_pool2d(t[0], {3, 4}); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::adaptive_avg_pool2d(t[0], {1, 1}); }, {x});
}

TEST(PoolValues, HandComputed) {
  Tensor x = from_vector(std::vector<double>{1, 5, 2, 3, 4, 0, 9, 8, 7, 6, 1, 2, 3, 4, 5, 6}, {1, 1, 4, 4}, DType::Float64);
  EXPECT_EQ(F::max_pool2d(x, {2, 2}, {2, 2}).to_vector(), (std::vector<double>{5, 9, 7, 6}));
  EXPECT_EQ(F::avg_pool2d(x, {2, 2}, {2, 2}).to_vector(), (std::vector<double>{2.5, 5.5, 5, 3.5}));
  // ceil_mode adds a last, partial window; without count_include_pad it
  // divides by the values it holds.
  EXPECT_EQ(F::max_pool2d(x, {3, 3}, {3, 3}, {0, 0}, {1, 1}, true).sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(F::avg_pool2d(x, {3, 3}, {3, 3}, {0, 0}, true, false).to_vector()[3], 6.0);
  EXPECT_EQ(F::adaptive_avg_pool2d(x, {1, 1}).item(), 4.125);
  EXPECT_EQ(F::pooled_size(7, 2, 2, 0, 1, false), 3);
  EXPECT_EQ(F::pooled_size(7, 2, 2, 0, 1, true), 4);
  EXPECT_EQ(F::pooled_size(6, 3, 2, 1, 1, true), 4);
  EXPECT_EQ(F::pooled_size(5, 2, 2, 1, 1, true), 3);  // a 4th window would start in the right padding
}

// The vectorised 2x2 / stride-2 kernel (float), the scalar 2x2 one and the
// general window loop must pick what torch's left-to-right scan picks, ties
// and NaNs included: values from {0, 1, 2} make most windows tie, and a
// plane 35 wide gives 17 windows a row, one past a 16-lane block.
TEST(PoolValues, MaxPoolTiesAndNaNsFollowTorchsScan) {
  const Shape shape{2, 3, 9, 35};
  for (DType dt : {DType::Float32, DType::Float64})
    for (std::array<int64_t, 2> kernel : {std::array<int64_t, 2>{2, 2}, {3, 2}})
      for (std::array<int64_t, 2> stride : {std::array<int64_t, 2>{2, 2}, {1, 1}, {2, 1}, {1, 3}}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " kernel " + std::to_string(kernel[0]) + "x" +
                     std::to_string(kernel[1]) + " stride " + std::to_string(stride[0]) + "x" + std::to_string(stride[1]));
        Generator g(7);
        std::vector<double> v(static_cast<size_t>(2 * 3 * 9 * 35));
        for (auto& e : v) {
          const uint64_t r = g.next_u64() % 16;
          e = r == 0 ? std::nan("") : static_cast<double>(r % 3);
        }
        const Tensor x = from_vector(v, shape, DType::Float64).to(dt).set_requires_grad(true);
        const Tensor out = F::max_pool2d(x, kernel, stride);
        sum(out).backward();
        const int64_t H = 9, W = 35, OH = out.size(2), OW = out.size(3);
        std::vector<double> want_out, want_grad(v.size(), 0.0);
        for (int64_t p = 0; p < 6; ++p)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              double best = 0;
              int64_t at = -1;
              for (int64_t kh = 0; kh < kernel[0]; ++kh)
                for (int64_t kw = 0; kw < kernel[1]; ++kw) {
                  const int64_t i = p * H * W + (oh * stride[0] + kh) * W + ow * stride[1] + kw;
                  if (at < 0 || v[i] > best || std::isnan(v[i])) best = v[i], at = i;
                }
              want_out.push_back(best);
              want_grad[static_cast<size_t>(at)] += 1;
            }
        const auto got = out.to(DType::Float64).to_vector();
        ASSERT_EQ(got.size(), want_out.size());
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_TRUE(got[i] == want_out[i] || (std::isnan(got[i]) && std::isnan(want_out[i])))
              << "window " << i << ": got " << got[i] << ", torch's scan picks " << want_out[i];
        EXPECT_EQ(x.grad().to(DType::Float64).to_vector(), want_grad);
      }
}

TEST(BatchNormGrad, TrainingAndEval) {
  Tensor x = rnd({4, 3, 2, 3}, 7), w = rnd({3}, 8, 0.5, 1.5), b = rnd({3}, 9);
  EXPECT_GRADCHECK([](auto& t) { return F::batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); }, {x, w, b});
  const Tensor rm = rnd({3}, 10), rv = rnd({3}, 11, 0.5, 2.0);
  EXPECT_GRADCHECK([&](auto& t) { return F::batch_norm(t[0], rm, rv, t[1], t[2], false); }, {x, w, b});
  // [N, C] and [N, C, L], without affine.
  EXPECT_GRADCHECK([](auto& t) { return F::batch_norm(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                   {rnd({5, 3}, 12)});
  EXPECT_GRADCHECK([](auto& t) { return F::batch_norm(t[0], Tensor(), Tensor(), t[1], Tensor(), true, 0.1, 1e-3); },
                   {rnd({3, 2, 4}, 13), rnd({2}, 14)});
}

TEST(BatchNormModule, RunningStatisticsMomentumAndEval) {
  nn::BatchNorm1d bn(2);
  EXPECT_EQ(bn.state_dict().keys(),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  // Channel 0 holds 1, 3 (mean 2, biased var 1, unbiased 2); channel 1 holds 0, 0.
  Tensor x = from_vector(std::vector<float>{1, 0, 3, 0}, {2, 2});
  Tensor y = bn(x);
  EXPECT_NEAR(y.to_vector()[0], -1 / std::sqrt(1 + 1e-5), 1e-6);
  EXPECT_NEAR(bn.running_mean.to_vector()[0], 0.2, 1e-7);       // 0.9 * 0 + 0.1 * 2
  EXPECT_NEAR(bn.running_var.to_vector()[0], 0.9 + 0.2, 1e-6);  // 0.9 * 1 + 0.1 * 2
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
  bn.eval();
  // Eval normalises with the running statistics and changes nothing.
  EXPECT_NEAR(bn(x).to_vector()[2], (3 - 0.2) / std::sqrt(1.1 + 1e-5), 1e-5);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
  // momentum=None: a cumulative average.
  nn::BatchNorm1d avg(2, 1e-5, std::nullopt);
  avg(x);
  avg(from_vector(std::vector<float>{5, 0, 7, 0}, {2, 2}));
  EXPECT_NEAR(avg.running_mean.to_vector()[0], 4.0, 1e-6);  // (2 + 6) / 2
  // One value per channel cannot give a batch variance.
  EXPECT_TRUE(contains(message_of([&] { bn.train(); bn(from_vector(std::vector<float>{1, 2}, {1, 2})); }),
                       "more than 1 value per channel"));
  EXPECT_TRUE(contains(message_of([&] { bn(zeros({4, 3})); }), "expected 2 channels"));
  nn::BatchNorm2d bn2(3);
  EXPECT_TRUE(contains(message_of([&] { bn2(zeros({4, 3})); }), "expected a 4-D input"));
}

TEST(ActivationGrad, GeluSoftmaxSigmoidTanhFlatten) {
  Tensor x = rnd({3, 4}, 21, -3, 3);
  EXPECT_GRADCHECK([](auto& t) { return F::gelu(t[0]); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::gelu(t[0], "tanh"); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::softmax(t[0], 1); }, {x});
  EXPECT_GRADCHECK([](auto& t) { return F::softmax(t[0], 0); }, {x});
  nn::Sigmoid sg;
  nn::Tanh th;
  nn::LogSoftmax ls(1);
  nn::Flatten fl;
  EXPECT_GRADCHECK([&](auto& t) { return sg(t[0]); }, {x});
  EXPECT_GRADCHECK([&](auto& t) { return th(t[0]); }, {x});
  EXPECT_GRADCHECK([&](auto& t) { return ls(t[0]); }, {x});
  EXPECT_GRADCHECK([&](auto& t) { return fl(t[0]); }, {rnd({2, 3, 2, 2}, 22)});
  EXPECT_NEAR(F::gelu(from_vector(std::vector<double>{1.0}, {1}, DType::Float64)).item(), 0.8413447460685429, 1e-15);
  EXPECT_EQ(nn::Flatten()(zeros({2, 3, 4, 5})).sizes(), (Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(0, 2)(zeros({2, 3, 4, 5})).sizes(), (Shape{24, 5}));
  // torch's implicit softmax dim: 1 for 2-D input.
  const auto p = nn::Softmax()(x).to_vector();
  EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-12);
}

TEST(LayerErrors, NameTheProblem) {
  EXPECT_TRUE(contains(message_of([] { nn::Conv2d(3, 4, {0, 3}); }), "kernel_size must be positive"));
  EXPECT_TRUE(contains(message_of([] { nn::Conv2d(3, 4, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 2); }),
                       "in_channels (3) must be divisible by groups (2)"));
  EXPECT_TRUE(contains(message_of([] { nn::Conv2d(3, 4, {3, 3}, {1, 1}, {0, 0}, {1, 1}, 1, true, "reflect"); }),
                       "padding_mode 'reflect'"));
  EXPECT_TRUE(contains(message_of([] { nn::Conv2d::with_padding(3, 4, {3, 3}, {2, 2}, "same"); }), "strided"));
  EXPECT_EQ(nn::Conv2d::with_padding(3, 4, {5, 3}, {1, 1}, "same")->padding, (nn::Conv2d::Pair{2, 1}));
  nn::Conv2d conv(3, 4, {3, 3});
  EXPECT_TRUE(contains(message_of([&] { conv(zeros({2, 5, 8, 8})); }), "expected an input with 3 channels"));
  EXPECT_TRUE(contains(message_of([&] { conv(zeros({2, 3, 2, 8})); }), "smaller than the dilated kernel"));
  EXPECT_TRUE(contains(message_of([&] { conv(zeros({3, 8})); }), "expected a 3-D [C, H, W] or 4-D"));
  EXPECT_TRUE(contains(message_of([] { nn::MaxPool2d({2, 2}, std::nullopt, {2, 2}); }), "half the kernel size"));
  EXPECT_TRUE(contains(message_of([] { F::max_pool2d(zeros({1, 1, 2, 2}), {3, 3}, {1, 1}); }), "too small for kernel"));
  EXPECT_TRUE(contains(message_of([] { F::gelu(zeros({2}), "fast"); }), "approximate must be 'none' or 'tanh'"));
  EXPECT_TRUE(contains(message_of([] { nn::Flatten(2)(zeros({2, 3})); }), "do not fit an input [2, 3]"));
  EXPECT_TRUE(contains(message_of([] { nn::BatchNorm2d(3, 1e-5, 1.5); }), "momentum must be between 0 and 1"));
}

TEST(ConvModule, KeysInitAndFloat32MatchesFloat64) {
  Generator g(3);
  nn::Conv2d conv(2, 6, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 2, true, "zeros", &g);
  EXPECT_EQ(conv.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(conv.weight.sizes(), (Shape{6, 1, 3, 3}));
  const double bound = 1.0 / 3.0;  // 1/sqrt(1*3*3)
  for (double v : conv.weight.to_vector()) EXPECT_LE(std::abs(v), bound);
  // The float32 GEMM path against the float64 (Eigen) one.
  Tensor x = rnd({3, 2, 9, 7}, 31).to(DType::Float32);
  const Tensor y32 = conv(x);
  const Tensor y64 = F::conv2d(x.to(DType::Float64), conv.weight.detach().to(DType::Float64),
                               conv.bias.detach().to(DType::Float64), {1, 1}, {1, 1}, {1, 1}, 2);
  EXPECT_TRUE(allclose(y32.to(DType::Float64), y64, 1e-5, 1e-5));
}

