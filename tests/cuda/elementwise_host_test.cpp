// Host half of the CUDA elementwise kernels: the per-element math in
// cuda/kernels/elementwise.h, which the kernels call, against core's CPU ops
// on the same values, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "core/ops.h"
#include "cuda/kernels/elementwise.h"

using namespace torchless;
namespace k = torchless::cuda::kernels;

namespace {

const std::vector<double> kX = {-3.5, -1.0, -0.25, 0.0, 0.5, 1.0, 2.75, 7.0};
const std::vector<double> kY = {2.0, -1.0, 0.5, 3.0, 0.5, -4.0, 0.125, 7.0};

bool same_bits(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y || (std::isnan(a) && std::isnan(b));
}

void expect_binary(k::BinaryOp op, const std::function<Tensor(const Tensor&, const Tensor&)>& cpu, const char* name) {
  const Tensor a = from_vector(kX, {8}), b = from_vector(kY, {8});
  const std::vector<double> want = cpu(a, b).to(DType::Float32).to_vector();
  for (size_t i = 0; i < kX.size(); ++i) {
    const float got = k::binary_apply<float>(op, static_cast<float>(kX[i]), static_cast<float>(kY[i]));
    EXPECT_TRUE(same_bits(got, static_cast<float>(want[i]))) << name << " at " << i << ": " << got << " vs " << want[i];
  }
}

void expect_unary(k::UnaryOp op, double s, const std::function<Tensor(const Tensor&)>& cpu, const char* name,
                  const std::vector<double>& xs = kX) {
  const Tensor a = from_vector(xs, {static_cast<int64_t>(xs.size())});
  const std::vector<double> want = cpu(a).to_vector();
  for (size_t i = 0; i < xs.size(); ++i) {
    const float got = k::unary_apply<float>(op, static_cast<float>(xs[i]), s);
    EXPECT_TRUE(same_bits(got, static_cast<float>(want[i]))) << name << " at " << i << ": " << got << " vs " << want[i];
  }
}

}  // namespace

TEST(CudaElementwiseHost, BinaryOpsMatchCpu) {
  expect_binary(k::BinaryOp::Add, [](auto& a, auto& b) { return add(a, b); }, "add");
  expect_binary(k::BinaryOp::Sub, [](auto& a, auto& b) { return sub(a, b); }, "sub");
  expect_binary(k::BinaryOp::Mul, [](auto& a, auto& b) { return mul(a, b); }, "mul");
  expect_binary(k::BinaryOp::Div, [](auto& a, auto& b) { return div(a, b); }, "div");
  expect_binary(k::BinaryOp::Maximum, [](auto& a, auto& b) { return maximum(a, b); }, "maximum");
  expect_binary(k::BinaryOp::Eq, [](auto& a, auto& b) { return eq(a, b); }, "eq");
  expect_binary(k::BinaryOp::Ne, [](auto& a, auto& b) { return ne(a, b); }, "ne");
  expect_binary(k::BinaryOp::Lt, [](auto& a, auto& b) { return lt(a, b); }, "lt");
  expect_binary(k::BinaryOp::Le, [](auto& a, auto& b) { return le(a, b); }, "le");
  expect_binary(k::BinaryOp::Gt, [](auto& a, auto& b) { return gt(a, b); }, "gt");
  expect_binary(k::BinaryOp::Ge, [](auto& a, auto& b) { return ge(a, b); }, "ge");
}

TEST(CudaElementwiseHost, ReluBackwardPassesGradientWhereOutputIsPositive) {
  // (grad, relu output): the CPU's relu backward, through autograd.
  Tensor x = from_vector(kY, {8}).set_requires_grad();
  Tensor g = from_vector(kX, {8});
  relu(x).backward(g);
  const std::vector<double> want = x.grad().to_vector();
  for (size_t i = 0; i < kX.size(); ++i) {
    const float y = kY[i] > 0 ? static_cast<float>(kY[i]) : 0.0f;
    EXPECT_EQ(k::binary_apply<float>(k::BinaryOp::ReluBackward, static_cast<float>(kX[i]), y),
              static_cast<float>(want[i])) << i;
  }
}

TEST(CudaElementwiseHost, UnaryOpsMatchCpu) {
  const std::vector<double> positive = {0.125, 0.5, 1.0, 2.0, 3.75, 10.0};
  expect_unary(k::UnaryOp::Neg, 0, [](auto& a) { return neg(a); }, "neg");
  expect_unary(k::UnaryOp::Exp, 0, [](auto& a) { return exp(a); }, "exp");
  expect_unary(k::UnaryOp::Log, 0, [](auto& a) { return log(a); }, "log", positive);
  expect_unary(k::UnaryOp::Sqrt, 0, [](auto& a) { return sqrt(a); }, "sqrt", positive);
  expect_unary(k::UnaryOp::Tanh, 0, [](auto& a) { return tanh(a); }, "tanh");
  expect_unary(k::UnaryOp::Sigmoid, 0, [](auto& a) { return sigmoid(a); }, "sigmoid");
  expect_unary(k::UnaryOp::Relu, 0, [](auto& a) { return relu(a); }, "relu");
  expect_unary(k::UnaryOp::AddScalar, 0.3, [](auto& a) { return add(a, 0.3); }, "add scalar");
  expect_unary(k::UnaryOp::MulScalar, -1.7, [](auto& a) { return mul(a, -1.7); }, "mul scalar");
  expect_unary(k::UnaryOp::Pow, 1.5, [](auto& a) { return pow(a, 1.5); }, "pow", positive);
  expect_unary(k::UnaryOp::TanhBackward, 0, [](auto& a) { return sub(ones({static_cast<int64_t>(kX.size())}), mul(a, a)); },
               "tanh backward");
  expect_unary(k::UnaryOp::SigmoidBackward, 0,
               [](auto& a) { return mul(a, sub(ones({static_cast<int64_t>(kX.size())}), a)); }, "sigmoid backward");
}
