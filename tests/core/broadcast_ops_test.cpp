// Elementwise ops with numpy broadcasting, comparisons, reductions, argmax and
// matmul shapes, against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "core/tensor.h"
#include "support/test_util.h"

using namespace torchless;

using namespace torchless::test;  // support/test_util.h

namespace {

Tensor T64(std::vector<double> v, Shape s) { return from_vector(v, s, DType::Float64); }

void expect_near_vec(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

}  // namespace

TEST(Broadcast, ColumnPlusRow) {
  Tensor a = T64({1, 2, 3}, {3, 1});
  Tensor b = T64({10, 20, 30, 40}, {1, 4});
  Tensor c = add(a, b);
  EXPECT_EQ(c.sizes(), (Shape{3, 4}));
  EXPECT_EQ(c.to_vector(), (std::vector<double>{11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}));
  EXPECT_EQ(sub(a, b).to_vector(), (std::vector<double>{-9, -19, -29, -39, -8, -18, -28, -38, -7, -17, -27, -37}));
  EXPECT_EQ(mul(a, b).to_vector(), (std::vector<double>{10, 20, 30, 40, 20, 40, 60, 80, 30, 60, 90, 120}));
  expect_near_vec(div(b, a).to_vector(), {10, 20, 30, 40, 5, 10, 15, 20, 10. / 3, 20. / 3, 10, 40. / 3});
  EXPECT_EQ((a + b).to_vector(), c.to_vector());
}

TEST(Broadcast, MatrixAndVectorAndScalar) {
  Tensor m = T64({1, -2, 3, -4, 5, -6}, {2, 3});
  Tensor v = T64({0, 1, -10}, {3});
  EXPECT_EQ(add(m, v).to_vector(), (std::vector<double>{1, -1, -7, -4, 6, -16}));
  EXPECT_EQ(add(v, m).sizes(), (Shape{2, 3}));
  EXPECT_EQ(maximum(m, v).to_vector(), (std::vector<double>{1, 1, 3, 0, 5, -6}));
  Tensor s = scalar_tensor(2, DType::Float64);  // 0-dim
  EXPECT_EQ(mul(m, s).sizes(), (Shape{2, 3}));
  EXPECT_EQ(mul(m, s).to_vector(), (std::vector<double>{2, -4, 6, -8, 10, -12}));
  EXPECT_EQ(div(s, m).to_vector()[1], -1.0);
  EXPECT_EQ(add(s, s).dim(), 0);
  EXPECT_EQ(add(s, s).item(), 4.0);
  // scalar (double) overloads
  EXPECT_EQ((m * 3.0).to_vector(), (std::vector<double>{3, -6, 9, -12, 15, -18}));
  EXPECT_EQ((m - 1.0).to_vector(), (std::vector<double>{0, -3, 2, -5, 4, -7}));
  EXPECT_EQ((m / 2.0).to_vector(), (std::vector<double>{0.5, -1, 1.5, -2, 2.5, -3}));
  EXPECT_EQ((1.0 + m).to_vector(), (std::vector<double>{2, -1, 4, -3, 6, -5}));
  EXPECT_EQ((-m).to_vector(), (std::vector<double>{-1, 2, -3, 4, -5, 6}));
  // [2,1,3] + [4,1] -> [2,4,3]
  Tensor x = T64({1, 2, 3, 4, 5, 6}, {2, 1, 3});
  Tensor y = T64({10, 20, 30, 40}, {4, 1});
  Tensor z = add(x, y);
  EXPECT_EQ(z.sizes(), (Shape{2, 4, 3}));
  EXPECT_EQ(z.select(0, 1).select(0, 2).to_vector(), (std::vector<double>{34, 35, 36}));
  // a non-contiguous operand
  Tensor mt = m.t();  // [3,2]
  EXPECT_EQ(add(mt, T64({100, 200}, {2})).to_vector(), (std::vector<double>{101, 196, 98, 205, 103, 194}));
}

TEST(Broadcast, ShapeErrorsNameBothShapes) {
  Tensor a = zeros({2, 3});
  Tensor b = zeros({4});
  using BinOp = Tensor (*)(const Tensor&, const Tensor&);
  const BinOp ops[] = {add, sub, mul, div, maximum, eq, lt};
  for (BinOp op : ops) {
    const std::string msg = message_of([&] { op(a, b); });
    EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
  }
  EXPECT_THROW(add(zeros({3, 2}), zeros({2, 3})), std::invalid_argument);
  EXPECT_THROW(eq(zeros({3}), zeros({2})), std::invalid_argument);
  const std::string msg = message_of([&] { mul(zeros({5, 1, 2}), zeros({3, 3})); });
  EXPECT_NE(msg.find("[5, 1, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
  EXPECT_EQ(broadcast_shapes({5, 1, 2}, {3, 1}), (Shape{5, 3, 2}));
  EXPECT_EQ(broadcast_shapes({}, {2}), (Shape{2}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 3}), (Shape{0, 3}));
}

TEST(Broadcast, DTypePromotion) {
  Tensor f = from_vector(std::vector<double>{1.5}, {1}, DType::Float32);
  Tensor d = from_vector(std::vector<double>{0.25}, {1}, DType::Float64);
  EXPECT_EQ(add(f, d).dtype(), DType::Float64);
  EXPECT_EQ(add(f, d).item(), 1.75);
  EXPECT_EQ(add(f, f).dtype(), DType::Float32);
  EXPECT_EQ(mul(f, 2.0).dtype(), DType::Float32);
  EXPECT_THROW(add(zeros({1}, DType::Int64), zeros({1}, DType::Int32)), std::invalid_argument);
}

TEST(Broadcast, UnaryValues) {
  Tensor x = T64({0.5, 1, 2, 4}, {4});
  expect_near_vec(exp(x).to_vector(), {std::exp(0.5), std::exp(1.0), std::exp(2.0), std::exp(4.0)});
  expect_near_vec(log(x).to_vector(), {std::log(0.5), 0, std::log(2.0), std::log(4.0)});
  expect_near_vec(sqrt(x).to_vector(), {std::sqrt(0.5), 1, std::sqrt(2.0), 2});
  expect_near_vec(pow(x, 3).to_vector(), {0.125, 1, 8, 64});
  expect_near_vec(pow(x, -0.5).to_vector(), {std::sqrt(2.0), 1, 1 / std::sqrt(2.0), 0.5});
  expect_near_vec(tanh(x).to_vector(), {std::tanh(0.5), std::tanh(1.0), std::tanh(2.0), std::tanh(4.0)});
  expect_near_vec(sigmoid(T64({0, 2, -2, 40}, {4})).to_vector(),
                  {0.5, 1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(2.0)), 1.0});
  EXPECT_EQ(relu(T64({-1, 0, 3, -0.5}, {2, 2})).to_vector(), (std::vector<double>{0, 0, 3, 0}));
  EXPECT_EQ(neg(x).to_vector(), (std::vector<double>{-0.5, -1, -2, -4}));
  // sigmoid must not overflow for very negative inputs
  const double s = sigmoid(T64({-800}, {1})).item();
  EXPECT_FALSE(std::isnan(s));
  EXPECT_NEAR(s, 0.0, 1e-300);
}

TEST(Compare, ResultsAreBoolAndBroadcast) {
  Tensor a = T64({1, 2, 3}, {3, 1});
  Tensor b = T64({2, 2}, {1, 2});
  Tensor r = lt(a, b);
  EXPECT_EQ(r.dtype(), DType::Bool);
  EXPECT_EQ(r.sizes(), (Shape{3, 2}));
  EXPECT_EQ(r.to_vector(), (std::vector<double>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(le(a, b).to_vector(), (std::vector<double>{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(gt(a, b).to_vector(), (std::vector<double>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(ge(a, b).to_vector(), (std::vector<double>{0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(eq(a, b).to_vector(), (std::vector<double>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(ne(a, b).to_vector(), (std::vector<double>{1, 1, 0, 0, 1, 1}));
  Tensor n = T64({NAN}, {1});
  EXPECT_EQ(eq(n, n).item(), 0.0);
  EXPECT_EQ(ne(n, n).item(), 1.0);
  // allclose / equal
  EXPECT_TRUE(allclose(T64({1, 2}, {2}), T64({1 + 1e-9, 2}, {2})));
  EXPECT_FALSE(allclose(T64({1, 2}, {2}), T64({1.1, 2}, {2})));
  EXPECT_FALSE(allclose(T64({1, 2}, {2}), T64({1, 2}, {1, 2})));
  EXPECT_FALSE(allclose(n, n));
  EXPECT_TRUE(equal(T64({1, 2}, {2}), T64({1, 2}, {2})));
  EXPECT_FALSE(equal(T64({1, 2}, {2}), from_vector(std::vector<double>{1, 2}, {2}, DType::Float32)));
}

TEST(Reduce, SumAndMeanOverDims) {
  // x[i,j,k] = 12i + 4j + k, shape [2,3,4]
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  Tensor x = T64(v, {2, 3, 4});
  Tensor s = sum(x);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 276.0);
  EXPECT_EQ(mean(x).item(), 11.5);
  Tensor s0 = sum(x, {0});
  EXPECT_EQ(s0.sizes(), (Shape{3, 4}));
  EXPECT_EQ(s0.to_vector(), (std::vector<double>{12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}));
  Tensor s1k = sum(x, {1}, true);
  EXPECT_EQ(s1k.sizes(), (Shape{2, 1, 4}));
  EXPECT_EQ(s1k.to_vector(), (std::vector<double>{12, 15, 18, 21, 48, 51, 54, 57}));
  Tensor s2 = sum(x, {-1});
  EXPECT_EQ(s2.sizes(), (Shape{2, 3}));
  EXPECT_EQ(s2.to_vector(), (std::vector<double>{6, 22, 38, 54, 70, 86}));
  Tensor s02 = sum(x, {0, 2}, true);
  EXPECT_EQ(s02.sizes(), (Shape{1, 3, 1}));
  EXPECT_EQ(s02.to_vector(), (std::vector<double>{60, 92, 124}));
  Tensor m1 = mean(x, {1});
  EXPECT_EQ(m1.sizes(), (Shape{2, 4}));
  EXPECT_EQ(m1.to_vector(), (std::vector<double>{4, 5, 6, 7, 16, 17, 18, 19}));
  Tensor m02 = mean(x, {2, 0}, true);
  EXPECT_EQ(m02.sizes(), (Shape{1, 3, 1}));
  EXPECT_EQ(m02.to_vector(), (std::vector<double>{7.5, 11.5, 15.5}));
  // over a non-contiguous view
  Tensor xt = x.transpose(0, 2);  // [4,3,2]
  EXPECT_EQ(sum(xt, {2}).to_vector(), s0.t().contiguous().to_vector());
  // float32 accumulation of many elements: torch 1.13 gives 100000.0078125
  // (cascade summation); a naive running float sum drifts to ~100958.
  // torchless accumulates in double: the float nearest 1e6 * 0.1f.
  Tensor big = full({1000000}, 0.1, DType::Float32);
  EXPECT_NEAR(sum(big).item(), 100000.0, 0.01);
  Tensor rows = full({2, 1000000}, 0.1, DType::Float32);
  EXPECT_NEAR(sum(rows, {1}).to_vector()[1], 100000.0, 0.01);
  EXPECT_THROW(sum(x, {3}), std::out_of_range);
  EXPECT_THROW(sum(x, {1, 1}), std::invalid_argument);
  // sum_to is the reverse of broadcasting
  Tensor st = sum_to(x, {3, 1});
  EXPECT_EQ(st.sizes(), (Shape{3, 1}));
  EXPECT_EQ(st.to_vector(), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(sum_to(x, {4}).to_vector(), (std::vector<double>{60, 66, 72, 78}));
}

TEST(Reduce, ArgmaxFirstOnTies) {
  Tensor x = T64({1, 5, 5, 2,   //
                  7, 7, 0, 7,   //
                  -1, -3, -1, -2},
                 {3, 4});
  Tensor a1 = argmax(x, 1);
  EXPECT_EQ(a1.dtype(), DType::Int64);
  EXPECT_EQ(a1.sizes(), (Shape{3}));
  EXPECT_EQ(a1.to_vector(), (std::vector<double>{1, 0, 0}));
  Tensor a0 = argmax(x, 0, true);
  EXPECT_EQ(a0.sizes(), (Shape{1, 4}));
  EXPECT_EQ(a0.to_vector(), (std::vector<double>{1, 1, 0, 1}));
  EXPECT_EQ(argmax(x, -1).to_vector(), a1.to_vector());
  EXPECT_EQ(argmax(x.t(), 0).to_vector(), a1.to_vector());
  Tensor f = from_vector(std::vector<double>{0.1, 0.3, 0.3, 0.2}, {1, 4}, DType::Float32);
  EXPECT_EQ(argmax(f, 1).item(), 1.0);
}

TEST(Matmul, ShapesAndValues) {
  Tensor A = T64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor B = T64({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor C = matmul(A, B);
  EXPECT_EQ(C.sizes(), (Shape{2, 2}));
  EXPECT_EQ(C.to_vector(), (std::vector<double>{58, 64, 139, 154}));
  // 1-D @ 1-D -> 0-dim dot
  Tensor d = matmul(T64({1, 2, 3}, {3}), T64({4, 5, 6}, {3}));
  EXPECT_EQ(d.dim(), 0);
  EXPECT_EQ(d.item(), 32.0);
  // 2-D @ 1-D -> [2]
  Tensor mv = matmul(A, T64({1, 0, -1}, {3}));
  EXPECT_EQ(mv.sizes(), (Shape{2}));
  EXPECT_EQ(mv.to_vector(), (std::vector<double>{-2, -2}));
  // 1-D @ 2-D -> [2]
  Tensor vm = matmul(T64({1, 1, 1}, {3}), B);
  EXPECT_EQ(vm.sizes(), (Shape{2}));
  EXPECT_EQ(vm.to_vector(), (std::vector<double>{27, 30}));
  // 3-D @ 2-D: [2,2,3] @ [3,2]
  Tensor A3 = T64({1, 2, 3, 4, 5, 6, -1, -2, -3, 0, 0, 1}, {2, 2, 3});
  Tensor C3 = matmul(A3, B);
  EXPECT_EQ(C3.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(C3.to_vector(), (std::vector<double>{58, 64, 139, 154, -58, -64, 11, 12}));
  // 3-D @ 3-D: batch of [2,3]@[3,2]
  Tensor B3 = T64({7, 8, 9, 10, 11, 12, 1, 0, 0, 1, 0, 0}, {2, 3, 2});
  Tensor D3 = matmul(A3, B3);
  EXPECT_EQ(D3.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(D3.to_vector(), (std::vector<double>{58, 64, 139, 154, -1, -2, 0, 0}));
  // transposed operands
  EXPECT_EQ(matmul(B.t(), A.t()).to_vector(), (std::vector<double>{58, 139, 64, 154}));
  // float32 path
  Tensor Cf = matmul(A.to(DType::Float32), B.to(DType::Float32));
  EXPECT_EQ(Cf.dtype(), DType::Float32);
  EXPECT_EQ(Cf.to_vector(), C.to_vector());
  // shape errors name both shapes
  const std::string msg = message_of([&] { matmul(A, A); });
  EXPECT_NE(msg.find("[2, 3]"), std::string::npos) << msg;
  EXPECT_THROW(matmul(A3, T64({1, 2}, {2, 1})), std::invalid_argument);
  EXPECT_THROW(matmul(A3, zeros({3, 3, 2}, DType::Float64)), std::invalid_argument);  // batch mismatch
  EXPECT_THROW(matmul(scalar_tensor(1, DType::Float64), A), std::invalid_argument);
  EXPECT_THROW(matmul(T64({1, 2}, {2}), T64({1, 2, 3}, {3})), std::invalid_argument);
}

TEST(Matmul, LinearMatchesHandComputed) {
  Tensor x = T64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = T64({1, 0, -1, 2, 1, 0}, {2, 3});
  Tensor b = T64({0.5, -1}, {2});
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.sizes(), (Shape{2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-1.5, 3, -1.5, 12}));
  EXPECT_EQ(linear(x, w, Tensor()).to_vector(), (std::vector<double>{-2, 4, -2, 13}));
  EXPECT_THROW(linear(x, w.t(), b), std::invalid_argument);
  EXPECT_THROW(linear(x, w, T64({1, 2, 3}, {3})), std::invalid_argument);
  EXPECT_THROW(linear(x.to(DType::Float32), w, b), std::invalid_argument);
}
