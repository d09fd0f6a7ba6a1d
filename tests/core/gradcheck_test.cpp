// Finite-difference gradient checks (float64, central differences) for every
// differentiable op, and the autograd engine's semantics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "nn/functional.h"
#include "support/gradcheck.h"

using namespace torchless;
using namespace torchless::test;
namespace F = torchless::nn::functional;

// ------------------------------------------------------------ the checker itself

TEST(GradcheckSelf, DetectsAWrongBackward) {
  // An op y = 2x whose backward claims 3g: the checker must notice.
  Fn wrong = [](const std::vector<Tensor>& in) {
    Tensor out = mul(in[0].detach(), 2.0);
    record(out, "WrongBackward", {in[0]}, [](const Tensor& g) { return std::vector<Tensor>{mul(g, 3.0)}; });
    return out;
  };
  EXPECT_NE(gradcheck(wrong, {rnd({3}, 1)}), "");
  // and a missing gradient is reported too
  Fn cut = [](const std::vector<Tensor>& in) { return add(in[0], in[1].detach()); };
  EXPECT_NE(gradcheck(cut, {rnd({3}, 1), rnd({3}, 2)}), "");
}

// ------------------------------------------------------------ elementwise

TEST(Gradcheck, AddSubMulDivWithBroadcasting) {
  auto a = rnd({3, 1}, 1), b = rnd({1, 4}, 2), c = rnd({4}, 3), s = rnd({}, 4);
  auto pos = rnd({3, 4}, 5, 0.5, 2.0), pos_row = rnd({4}, 6, 0.5, 2.0);
  EXPECT_GRADCHECK([](auto& in) { return add(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](auto& in) { return sub(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](auto& in) { return sub(in[1], in[0]); }, {a, c});
  EXPECT_GRADCHECK([](auto& in) { return mul(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](auto& in) { return mul(in[0], in[1]); }, {pos, s});
  EXPECT_GRADCHECK([](auto& in) { return div(in[0], in[1]); }, {a, pos_row});
  EXPECT_GRADCHECK([](auto& in) { return div(in[0], in[1]); }, {pos_row, pos});
  EXPECT_GRADCHECK([](auto& in) { return div(in[1], in[0]); }, {pos, s});
  // same-shape and 3-D broadcasting
  EXPECT_GRADCHECK([](auto& in) { return mul(in[0], in[1]); }, {rnd({2, 1, 3}, 7), rnd({4, 1}, 8)});
}

TEST(Gradcheck, ScalarOverloadsAndUnary) {
  auto x = rnd({2, 3}, 11);
  auto pos = rnd({2, 3}, 12, 0.2, 2.0);
  EXPECT_GRADCHECK([](auto& in) { return add(in[0], 2.5); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return mul(in[0], -1.75); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return pow(in[0], 3.0); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return pow(in[0], 2.5); }, {pos});
  EXPECT_GRADCHECK([](auto& in) { return pow(in[0], -1.5); }, {pos});
  EXPECT_GRADCHECK([](auto& in) { return neg(in[0]); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return -in[0]; }, {x});
  EXPECT_GRADCHECK([](auto& in) { return exp(in[0]); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return log(in[0]); }, {pos});
  EXPECT_GRADCHECK([](auto& in) { return sqrt(in[0]); }, {pos});
  EXPECT_GRADCHECK([](auto& in) { return tanh(in[0]); }, {mul(x, 2.0)});
  EXPECT_GRADCHECK([](auto& in) { return sigmoid(in[0]); }, {mul(x, 3.0)});
  EXPECT_GRADCHECK([](auto& in) { return relu(in[0]); }, {rnd_away_from_zero({3, 4}, 13)});
}

TEST(Gradcheck, ReluGradientIsExactlyTheMask) {
  Tensor x = from_vector(std::vector<double>{-2, -0.5, 0.5, 3}, {4}, DType::Float64);
  x.set_requires_grad();
  sum(mul(relu(x), from_vector(std::vector<double>{1, 2, 3, 4}, {4}, DType::Float64))).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 3, 4}));
}

TEST(Gradcheck, Maximum) {
  // keep a and b apart so the max is differentiable everywhere checked
  auto a = rnd_away_from_zero({3, 4}, 21, 0.1);
  auto b = mul(a, -1.0);  // every pair differs by >= 0.2
  Tensor bb = add(b, rnd({3, 4}, 22, -0.05, 0.05));
  EXPECT_GRADCHECK([](auto& in) { return maximum(in[0], in[1]); }, {a, bb});
  // broadcasting: [3,4] vs [4] with rows far apart from the vector
  auto row = rnd({4}, 23, 0.4, 0.6);
  auto m = from_vector(std::vector<double>{0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1}, {3, 4}, DType::Float64);
  EXPECT_GRADCHECK([](auto& in) { return maximum(in[0], in[1]); }, {m, row});
  // ties: torch gives the gradient to a (a >= b)... our documented rule
  Tensor x = from_vector(std::vector<double>{1, 2}, {2}, DType::Float64);
  Tensor y = from_vector(std::vector<double>{1, 3}, {2}, DType::Float64);
  x.set_requires_grad();
  y.set_requires_grad();
  sum(maximum(x, y)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 0}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{0, 1}));
}

// ------------------------------------------------------------ reductions

TEST(Gradcheck, SumAndMean) {
  auto x = rnd({2, 3, 4}, 31);
  EXPECT_GRADCHECK([](auto& in) { return sum(in[0]); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return sum(in[0], {1}); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return sum(in[0], {0, 2}, true); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return sum(in[0], {-1}, false); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return mean(in[0]); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return mean(in[0], {1}, true); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return mean(in[0], {0, 2}); }, {x});
  // of a non-contiguous view
  EXPECT_GRADCHECK([](auto& in) { return sum(in[0].transpose(0, 2), {1}); }, {x});
}

// ------------------------------------------------------------ linear algebra

TEST(Gradcheck, Matmul) {
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({3, 4}, 41), rnd({4, 2}, 42)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({4}, 43), rnd({4}, 44)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({3, 4}, 45), rnd({4}, 46)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({4}, 47), rnd({4, 2}, 48)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({2, 3, 4}, 49), rnd({4, 5}, 50)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0], in[1]); }, {rnd({2, 3, 4}, 51), rnd({2, 4, 5}, 52)});
  // transposed (non-contiguous) operands
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0].t(), in[1].t()); }, {rnd({4, 3}, 53), rnd({2, 4}, 54)});
  EXPECT_GRADCHECK([](auto& in) { return matmul(in[0].transpose(1, 2), in[1]); },
                   {rnd({2, 4, 3}, 55), rnd({2, 4, 5}, 56)});
}

TEST(Gradcheck, Linear) {
  auto x = rnd({5, 4}, 61), w = rnd({3, 4}, 62), b = rnd({3}, 63);
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0], in[1], Tensor()); }, {x, w});
  // non-contiguous input (transposed) and weight
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0].t(), in[1], in[2]); }, {rnd({4, 5}, 64), w, b});
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0].slice(1, 0, 8, 2), in[1].t(), in[2]); },
                   {rnd({5, 8}, 65), rnd({4, 3}, 66), b});
  // only some inputs need gradients
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}, {0});
  EXPECT_GRADCHECK([](auto& in) { return linear(in[0], in[1], in[2]); }, {x, w, b}, {1, 2});
}

// ------------------------------------------------------------ views

TEST(Gradcheck, Views) {
  auto x = rnd({3, 4, 5}, 71);
  EXPECT_GRADCHECK([](auto& in) { return in[0].transpose(0, 2); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].permute({1, 2, 0}); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].slice(2, 1, 5, 2); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].slice(0, -2, 3); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].select(1, 2); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].select(0, -1); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].narrow(2, 1, 3); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].reshape({12, 5}); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].view({-1}); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].transpose(0, 1).reshape({-1, 5}); }, {x});  // copying reshape
  EXPECT_GRADCHECK([](auto& in) { return in[0].unsqueeze(1); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].unsqueeze(-1).squeeze(-1); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].flatten(1); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].transpose(1, 2).flatten(); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].t(); }, {rnd({3, 4}, 72)});
  EXPECT_GRADCHECK([](auto& in) { return in[0].clone(); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return in[0].contiguous(); }, {x.transpose(0, 1).contiguous()});
  // expand: the gradient sums over the broadcast dims
  EXPECT_GRADCHECK([](auto& in) { return in[0].expand({2, 3, 4}); }, {rnd({3, 1}, 73)});
  EXPECT_GRADCHECK([](auto& in) { return in[0].expand({4, -1}); }, {rnd({1, 3}, 74)});
  // overlapping slices of one tensor: both contributions land
  EXPECT_GRADCHECK([](auto& in) { return mul(in[0].slice(0, 0, 3), in[0].slice(0, 1, 4)); }, {rnd({4, 2}, 75)});
  // a chain of views
  EXPECT_GRADCHECK([](auto& in) { return in[0].permute({2, 0, 1}).select(1, 1).slice(0, 0, 5, 3).unsqueeze(0); },
                   {x});
}

TEST(Gradcheck, ToDtypeCarriesTheGradientBack) {
  // float32 leaf -> float64 op: the gradient arrives as float32 with the same values
  Tensor x = from_vector(std::vector<double>{0.5, -1.5, 2}, {3}, DType::Float32);
  x.set_requires_grad();
  Tensor y = x.to(DType::Float64);
  EXPECT_TRUE(y.requires_grad());
  Tensor w = from_vector(std::vector<double>{0.25, 3, -2}, {3}, DType::Float64);
  sum(mul(mul(y, y), w)).backward();  // d/dx = 2*x*w
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::Float32);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0.25, -9, -8}));
  // float64 -> float32 -> float64 round trip passes the gradient through unchanged
  EXPECT_GRADCHECK([](auto& in) { return in[0].to(DType::Float32).to(DType::Float64); }, {rnd({4}, 81)}, {},
                   1e-3, 1e-4, 1e-4);
  // to an integer dtype cuts the graph (torch: integer tensors cannot require grad)
  Tensor z = from_vector(std::vector<double>{1.5}, {1}, DType::Float64);
  z.set_requires_grad();
  EXPECT_FALSE(z.to(DType::Int64).requires_grad());
}

// ------------------------------------------------------------ nn.functional

TEST(Gradcheck, LogSoftmax) {
  auto x = rnd({4, 5}, 91, -2, 2);
  EXPECT_GRADCHECK([](auto& in) { return F::log_softmax(in[0], 1); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return F::log_softmax(in[0], 0); }, {x});
  EXPECT_GRADCHECK([](auto& in) { return F::log_softmax(in[0], -1); }, {rnd({2, 3, 4}, 92)});
  EXPECT_GRADCHECK([](auto& in) { return F::log_softmax(in[0], 1); }, {rnd({2, 3, 4}, 93)});
  // values: rows of exp(log_softmax) sum to 1, and equal x - logsumexp(x)
  Tensor y = F::log_softmax(x, 1);
  const auto xv = x.to_vector(), yv = y.to_vector();
  for (int r = 0; r < 4; ++r) {
    double lse = 0;
    for (int c = 0; c < 5; ++c) lse += std::exp(xv[r * 5 + c]);
    lse = std::log(lse);
    for (int c = 0; c < 5; ++c) EXPECT_NEAR(yv[r * 5 + c], xv[r * 5 + c] - lse, 1e-14);
  }
  // stable for large logits
  Tensor big = from_vector(std::vector<double>{1000, 0, -1000}, {1, 3}, DType::Float64);
  const auto bv = F::log_softmax(big, 1).to_vector();
  EXPECT_EQ(bv[0], 0.0);
  EXPECT_EQ(bv[1], -1000.0);
}

TEST(Gradcheck, NllLossAndCrossEntropy) {
  auto logits = rnd({4, 5}, 101, -2, 2);
  Tensor target = from_vector(std::vector<double>{0, 4, 2, 2}, {4}, DType::Int64);
  EXPECT_GRADCHECK([target](auto& in) { return F::nll_loss(in[0], target); }, {logits});
  EXPECT_GRADCHECK([target](auto& in) { return F::nll_loss(F::log_softmax(in[0], 1), target); }, {logits});
  EXPECT_GRADCHECK([target](auto& in) { return F::cross_entropy(in[0], target); }, {logits});
  // cross_entropy == nll_loss(log_softmax) (torch's definition), by hand
  const auto lv = logits.to_vector();
  const int tv[4] = {0, 4, 2, 2};
  double expect = 0;
  for (int r = 0; r < 4; ++r) {
    double lse = 0;
    for (int c = 0; c < 5; ++c) lse += std::exp(lv[r * 5 + c]);
    expect += std::log(lse) - lv[r * 5 + tv[r]];
  }
  expect /= 4;
  EXPECT_NEAR(F::cross_entropy(logits, target).item(), expect, 1e-14);
  EXPECT_NEAR(F::nll_loss(F::log_softmax(logits, 1), target).item(), expect, 1e-14);
  // a scaled upstream gradient reaches cross_entropy's backward
  EXPECT_GRADCHECK([target](auto& in) { return mul(F::cross_entropy(in[0], target), 3.0); }, {logits});
  // bad targets are named
  Tensor bad = from_vector(std::vector<double>{0, 5, 1, 1}, {4}, DType::Int64);
  try {
    F::cross_entropy(logits, bad);
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(F::nll_loss(logits, target.to(DType::Int32)), std::invalid_argument);
  EXPECT_THROW(F::nll_loss(logits, from_vector(std::vector<double>{0, 1}, {2}, DType::Int64)), std::invalid_argument);
}

TEST(Gradcheck, DropoutWithAFixedMask) {
  const double p = 0.4;
  auto x = rnd_away_from_zero({6, 7}, 111);
  // re-seeding each evaluation gives the same mask, so the op is a fixed linear map
  EXPECT_GRADCHECK(
      [p](auto& in) {
        Generator g(77);
        return F::dropout(in[0], p, true, &g);
      },
      {x});
  // forward by hand: y == x * mask / (1-p) with the mask read off y
  Generator g(77);
  Tensor xl = x.clone();
  xl.set_requires_grad();
  Tensor y = F::dropout(xl, p, true, &g);
  const auto xv = x.to_vector(), yv = y.to_vector();
  std::vector<double> mask(xv.size());
  int dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    mask[i] = yv[i] == 0 ? 0.0 : 1.0;
    dropped += yv[i] == 0;
    if (mask[i] != 0) {
      EXPECT_DOUBLE_EQ(yv[i], xv[i] / (1 - p));
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, 42);
  Tensor w = rnd({6, 7}, 112);
  sum(mul(y, w)).backward();
  const auto gv = xl.grad().to_vector(), wv = w.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_DOUBLE_EQ(gv[i], wv[i] * mask[i] / (1 - p));
  // eval mode: identity, no new node
  EXPECT_TRUE(F::dropout(xl, p, false, &g).is_same(xl));
  EXPECT_THROW(F::dropout(xl, 1.5, true, &g), std::invalid_argument);
}

// A small model end to end: every parameter's gradient by finite differences.
TEST(Gradcheck, TwoLayerNetwork) {
  Tensor target = from_vector(std::vector<double>{1, 0, 2}, {3}, DType::Int64);
  EXPECT_GRADCHECK(
      [target](auto& in) {
        Tensor h = tanh(linear(in[0], in[1], in[2]));
        return F::cross_entropy(linear(h, in[3], in[4]), target);
      },
      {rnd({3, 4}, 121), rnd({5, 4}, 122), rnd({5}, 123), rnd({3, 5}, 124), rnd({3}, 125)});
}

// ------------------------------------------------------------ engine semantics

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = from_vector(std::vector<double>{1, -2, 3}, {3}, DType::Float64);
  x.set_requires_grad();
  sum(mul(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, -4, 6}));
  Tensor first = x.grad();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5, -1, 9}));
  // the gradient buffer is the leaf's own (not aliasing an intermediate)
  Tensor y = from_vector(std::vector<double>{1, 1}, {2}, DType::Float64);
  y.set_requires_grad();
  Tensor z = from_vector(std::vector<double>{0, 0}, {2}, DType::Float64);
  z.set_requires_grad();
  sum(add(y, z)).backward();  // AddBackward hands the same g to both
  sum(mul(y, 10.0)).backward();
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{11, 11}));
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{1, 1}));
  // set_grad(undefined) clears
  y.set_grad(Tensor());
  EXPECT_FALSE(y.grad().defined());
  EXPECT_THROW(y.set_grad(zeros({3}, DType::Float64)), std::invalid_argument);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = from_vector(std::vector<double>{2, 3}, {2}, DType::Float64);
  x.set_requires_grad();
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.storage().id(), x.storage().id());
  sum(mul(x, d)).backward();  // d/dx (x * const) = const
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 3}));
  Tensor e = mul(x, 2.0).detach();
  EXPECT_FALSE(e.requires_grad());
  EXPECT_EQ(e.grad_fn(), nullptr);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = from_vector(std::vector<double>{2, 3}, {2}, DType::Float64);
  x.set_requires_grad();
  EXPECT_TRUE(grad_mode_enabled());
  {
    NoGradGuard ng;
    EXPECT_FALSE(grad_mode_enabled());
    Tensor y = sum(mul(exp(x), x.transpose(0, 0)));
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_FALSE(x.slice(0, 0, 1).requires_grad());
    EXPECT_FALSE(linear(x.unsqueeze(0), x.unsqueeze(0), Tensor()).requires_grad());
    EXPECT_FALSE(F::log_softmax(x.unsqueeze(0), 1).requires_grad());
    {
      NoGradGuard nested;
    }
    EXPECT_FALSE(grad_mode_enabled());  // restored to the outer guard's state
    EXPECT_THROW(y.backward(), std::invalid_argument);
  }
  EXPECT_TRUE(grad_mode_enabled());
  EXPECT_TRUE(mul(x, 2.0).requires_grad());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, ATensorUsedTwiceGetsBothContributions) {
  Tensor x = from_vector(std::vector<double>{1, 2, -3}, {3}, DType::Float64);
  x.set_requires_grad();
  sum(add(mul(x, x), x)).backward();  // 2x + 1
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 5, -5}));
  // a shared intermediate (diamond): h = 2x, y = h*h + h -> dy/dx = (2h + 1) * 2
  Tensor a = from_vector(std::vector<double>{1, -1}, {2}, DType::Float64);
  a.set_requires_grad();
  Tensor h = mul(a, 2.0);
  sum(add(mul(h, h), h)).backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{10, -6}));
  // a deep chain does not overflow the stack
  Tensor b = from_vector(std::vector<double>{1}, {1}, DType::Float64);
  b.set_requires_grad();
  Tensor c = b;
  for (int i = 0; i < 100000; ++i) c = add(c, 0.0);
  sum(c).backward();
  EXPECT_EQ(b.grad().item(), 1.0);
}

TEST(Autograd, BackwardPreconditions) {
  Tensor x = from_vector(std::vector<double>{1, 2}, {2}, DType::Float64);
  x.set_requires_grad();
  Tensor y = mul(x, 3.0);
  EXPECT_THROW(y.backward(), std::invalid_argument);  // non-scalar without grad_output
  EXPECT_THROW(y.backward(ones({3}, DType::Float64)), std::invalid_argument);  // wrong shape
  y.backward(from_vector(std::vector<double>{1, -1}, {2}, DType::Float64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, -3}));
  EXPECT_FALSE(y.is_leaf());
  EXPECT_THROW(y.set_requires_grad(false), std::invalid_argument);
  EXPECT_THROW(y.set_requires_grad(true), std::invalid_argument);
  EXPECT_THROW(zeros({2}, DType::Int64).set_requires_grad(), std::invalid_argument);
  EXPECT_THROW(zeros({2}, DType::Float64).backward(), std::invalid_argument);  // requires no grad
  // a leaf's own backward seeds its gradient
  Tensor s = scalar_tensor(2, DType::Float64);
  s.set_requires_grad();
  s.backward();
  EXPECT_EQ(s.grad().item(), 1.0);
  // only leaves accumulate .grad
  Tensor z = from_vector(std::vector<double>{1}, {1}, DType::Float64);
  z.set_requires_grad();
  Tensor mid = mul(z, 2.0);
  sum(mid).backward();
  EXPECT_FALSE(mid.grad().defined());
  EXPECT_EQ(z.grad().item(), 2.0);
}
