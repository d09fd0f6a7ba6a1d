// Views share storage and have torch's strides/offsets; conversions and copies.
// Expected strides/offsets are hand-computed from torch's rules (and match
// what torch prints for x.stride() / x.storage_offset() on the same ops).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/ops.h"
#include "core/tensor.h"
#include "support/test_util.h"

using namespace torchless;

using namespace torchless::test;  // support/test_util.h

namespace {

// A contiguous float64 tensor 0, 1, 2, ... of `shape`.
Tensor iota(Shape shape, DType dt = DType::Float64) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, shape, dt);
}

uint16_t bits16(const Tensor& t, int64_t i = 0) {
  uint16_t b;
  std::memcpy(&b, static_cast<const char*>(t.raw_data()) + 2 * i, 2);
  return b;
}

}  // namespace

// ------------------------------------------------------------ geometry

TEST(TensorViews, ContiguousFactoryGeometry) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_EQ(x.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(x.storage_offset(), 0);
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.numel(), 24);
  EXPECT_EQ(x.nbytes(), 96u);
  EXPECT_EQ(x.storage().nbytes(), 96u);
}

TEST(TensorViews, TransposeAndTStridesShareStorage) {
  Tensor x = iota({2, 3, 4});
  Tensor y = x.transpose(0, 2);  // torch: size (4,3,2), stride (1,4,12)
  EXPECT_EQ(y.sizes(), (Shape{4, 3, 2}));
  EXPECT_EQ(y.strides(), (Shape{1, 4, 12}));
  EXPECT_EQ(y.storage().id(), x.storage().id());
  EXPECT_FALSE(y.is_contiguous());
  // element y[3,1,1] == x[1,1,3] == 12+4+3
  EXPECT_EQ(y.select(0, 3).select(0, 1).select(0, 1).item(), 19.0);

  Tensor m = iota({3, 5});
  Tensor mt = m.t();
  EXPECT_EQ(mt.sizes(), (Shape{5, 3}));
  EXPECT_EQ(mt.strides(), (Shape{1, 5}));
  EXPECT_THROW(x.t(), std::invalid_argument);
  Tensor v = iota({4});
  EXPECT_TRUE(v.t().is_same(v));  // torch: t() of 1-D is itself
  // negative dims wrap
  EXPECT_EQ(x.transpose(-1, 0).strides(), (Shape{1, 4, 12}));
}

TEST(TensorViews, PermuteStridesAndValues) {
  Tensor x = iota({2, 3, 4});
  Tensor p = x.permute({2, 0, 1});  // torch: size (4,2,3), stride (1,12,4)
  EXPECT_EQ(p.sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  std::vector<double> expect;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) expect.push_back(i * 12 + j * 4 + k);
  EXPECT_EQ(p.to_vector(), expect);
  EXPECT_THROW(x.permute({0, 0, 1}), std::invalid_argument);
  EXPECT_THROW(x.permute({0, 1}), std::invalid_argument);
}

TEST(TensorViews, SliceWithStepOffsets) {
  Tensor x = iota({4, 6});
  Tensor s = x.slice(1, 1, 6, 2);  // torch x[:, 1::2]: size (4,3) stride (6,2) offset 1
  EXPECT_EQ(s.sizes(), (Shape{4, 3}));
  EXPECT_EQ(s.strides(), (Shape{6, 2}));
  EXPECT_EQ(s.storage_offset(), 1);
  EXPECT_EQ(s.select(0, 2).to_vector(), (std::vector<double>{13, 15, 17}));
  Tensor r = x.slice(0, 1, 3);  // x[1:3]: size (2,6) stride (6,1) offset 6
  EXPECT_EQ(r.sizes(), (Shape{2, 6}));
  EXPECT_EQ(r.storage_offset(), 6);
  EXPECT_TRUE(r.is_contiguous());
  // negative and clamped bounds: x[:, -2:100] -> columns 4, 5
  Tensor c = x.slice(1, -2, 100);
  EXPECT_EQ(c.sizes(), (Shape{4, 2}));
  EXPECT_EQ(c.storage_offset(), 4);
  // step that does not divide: x[:, 0:5:3] -> columns 0, 3
  EXPECT_EQ(x.slice(1, 0, 5, 3).size(1), 2);
  EXPECT_THROW(x.slice(1, 0, 5, 0), std::invalid_argument);
  // slice of a slice composes offsets: x[1:3][:, 2::3] -> offset 6+2, strides (6, 3)
  Tensor rr = r.slice(1, 2, 6, 3);
  EXPECT_EQ(rr.storage_offset(), 8);
  EXPECT_EQ(rr.strides(), (Shape{6, 3}));
  EXPECT_EQ(rr.to_vector(), (std::vector<double>{8, 11, 14, 17}));
}

TEST(TensorViews, SelectAndNarrow) {
  Tensor x = iota({3, 4, 5});
  Tensor s = x.select(1, 2);  // size (3,5) stride (20,1) offset 10
  EXPECT_EQ(s.sizes(), (Shape{3, 5}));
  EXPECT_EQ(s.strides(), (Shape{20, 1}));
  EXPECT_EQ(s.storage_offset(), 10);
  EXPECT_EQ(x.select(0, -1).storage_offset(), 40);
  EXPECT_THROW(x.select(0, 3), std::out_of_range);
  EXPECT_THROW(x.select(0, -4), std::out_of_range);
  Tensor n = x.narrow(2, 1, 3);  // size (3,4,3) stride (20,5,1) offset 1
  EXPECT_EQ(n.sizes(), (Shape{3, 4, 3}));
  EXPECT_EQ(n.strides(), (Shape{20, 5, 1}));
  EXPECT_EQ(n.storage_offset(), 1);
  EXPECT_THROW(x.narrow(2, 3, 3), std::out_of_range);
  EXPECT_THROW(x.narrow(2, 0, -1), std::out_of_range);
  // select of a 1-D tensor gives a 0-dim tensor
  Tensor e = iota({5}).select(0, 3);
  EXPECT_EQ(e.dim(), 0);
  EXPECT_EQ(e.item(), 3.0);
}

TEST(TensorViews, ExpandUnsqueezeSqueezeFlatten) {
  Tensor x = iota({3, 1});
  Tensor e = x.expand({2, 3, 4});  // torch: stride (0, 1, 0)
  EXPECT_EQ(e.sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.storage().id(), x.storage().id());
  EXPECT_EQ(e.select(0, 1).select(0, 2).to_vector(), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_EQ(x.expand({-1, 5}).sizes(), (Shape{3, 5}));
  EXPECT_THROW(x.expand({4, 4}), std::invalid_argument);  // 3 cannot become 4
  EXPECT_THROW(x.expand({3}), std::invalid_argument);     // fewer dims
  EXPECT_THROW(x.expand({-1, 3, 1}), std::invalid_argument);

  Tensor y = iota({2, 3});
  Tensor u0 = y.unsqueeze(0);  // size (1,2,3) stride (6,3,1)
  EXPECT_EQ(u0.sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(u0.strides(), (Shape{6, 3, 1}));
  Tensor u1 = y.unsqueeze(1);  // size (2,1,3) stride (3,3,1)
  EXPECT_EQ(u1.strides(), (Shape{3, 3, 1}));
  Tensor u2 = y.unsqueeze(-1);  // size (2,3,1) stride (3,1,1)
  EXPECT_EQ(u2.sizes(), (Shape{2, 3, 1}));
  EXPECT_EQ(u2.strides(), (Shape{3, 1, 1}));
  EXPECT_EQ(u1.squeeze(1).sizes(), (Shape{2, 3}));
  EXPECT_EQ(y.squeeze(0).sizes(), (Shape{2, 3}));  // size != 1: unchanged, like torch
  EXPECT_EQ(u2.squeeze(-1).storage().id(), y.storage().id());

  Tensor z = iota({2, 3, 4});
  EXPECT_EQ(z.flatten().sizes(), (Shape{24}));
  EXPECT_EQ(z.flatten(1).sizes(), (Shape{2, 12}));
  EXPECT_EQ(z.flatten(0, 1).sizes(), (Shape{6, 4}));
  EXPECT_EQ(z.flatten(1).storage().id(), z.storage().id());  // contiguous: a view
  Tensor zt = z.transpose(0, 1);
  Tensor zf = zt.flatten();  // non-viewable: a copy with the permuted order
  EXPECT_NE(zf.storage().id(), z.storage().id());
  EXPECT_EQ(zf.to_vector(), zt.contiguous().to_vector());
  EXPECT_EQ(scalar_tensor(7).flatten().sizes(), (Shape{1}));
}

TEST(TensorViews, WritesThroughViewsReachTheBase) {
  Tensor x = zeros({3, 4}, DType::Float64);
  x.select(1, 2).fill_(5);                    // column 2
  x.slice(0, 0, 3, 2).select(1, 0).fill_(7);  // rows 0 and 2, column 0
  x.transpose(0, 1).select(0, 3).select(0, 1).fill_(9);  // x[1, 3]
  x.view({12}).narrow(0, 4, 2).fill_(1);       // x[1, 0], x[1, 1]
  x.unsqueeze(0).squeeze(0).permute({1, 0}).select(0, 1).select(0, 2).fill_(-2);  // x[2, 1]
  EXPECT_EQ(x.to_vector(), (std::vector<double>{7, 0, 5, 0,  //
                                                1, 1, 5, 9,  //
                                                7, -2, 5, 0}));
  // and a base write is visible in an existing view
  Tensor col = x.select(1, 3);
  x.fill_(3);
  EXPECT_EQ(col.to_vector(), (std::vector<double>{3, 3, 3}));
  // copy_ into a strided view writes only the view's elements
  Tensor y = zeros({2, 4}, DType::Float64);
  y.slice(1, 1, 4, 2).copy_(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::Float64));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 1, 0, 2, 0, 3, 0, 4}));
}

TEST(TensorViews, ViewStridesAndRefusal) {
  Tensor x = iota({2, 3, 4});
  Tensor v = x.view({6, -1});
  EXPECT_EQ(v.sizes(), (Shape{6, 4}));
  EXPECT_EQ(v.strides(), (Shape{4, 1}));
  EXPECT_EQ(v.storage().id(), x.storage().id());
  // Viewable non-contiguous case (torch computeStride): x[:, :, ::2]... no;
  // a transposed [4,3] -> [2,2,3]: splitting the outer dim keeps it a view.
  Tensor t = iota({3, 4}).t();  // size (4,3) stride (1,4)
  Tensor tv = t.view({2, 2, 3});
  EXPECT_EQ(tv.strides(), (Shape{2, 1, 4}));
  EXPECT_EQ(tv.to_vector(), t.to_vector());
  // merging the transposed dims is impossible: torch's message names reshape
  const std::string msg = message_of([&] { t.view({12}); });
  EXPECT_NE(msg.find("view"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reshape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1, 4]"), std::string::npos) << msg;  // the strides
  EXPECT_THROW(t.view({12}), std::invalid_argument);
  EXPECT_THROW(x.view({5, -1}), std::invalid_argument);
  EXPECT_THROW(x.view({-1, -1}), std::invalid_argument);
  EXPECT_THROW(x.view({25}), std::invalid_argument);
  // 0-dim <-> [1]
  EXPECT_EQ(scalar_tensor(2).view({1, 1}).sizes(), (Shape{1, 1}));
  EXPECT_EQ(iota({1}).view({}).dim(), 0);
  // expanded (stride 0) dims can be split but not merged with others
  Tensor e = iota({3}).unsqueeze(0).expand({4, 3});
  EXPECT_THROW(e.view({12}), std::invalid_argument);
}

TEST(TensorViews, ReshapeCopiesOnlyWhenNeeded) {
  Tensor x = iota({3, 4});
  Tensor r = x.reshape({4, 3});
  EXPECT_EQ(r.storage().id(), x.storage().id());
  Tensor t = x.t();
  Tensor rc = t.reshape({12});
  EXPECT_NE(rc.storage().id(), x.storage().id());
  EXPECT_EQ(rc.to_vector(), (std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  // the copy is independent of the base
  x.fill_(0);
  EXPECT_EQ(rc.to_vector()[1], 4.0);
}

TEST(TensorViews, ContiguousCopiesOnlyWhenNeeded) {
  Tensor x = iota({3, 4});
  EXPECT_TRUE(x.contiguous().is_same(x));
  Tensor r = x.slice(0, 1, 3);  // contiguous with an offset
  EXPECT_TRUE(r.contiguous().is_same(r));
  Tensor t = x.t();
  Tensor c = t.contiguous();
  EXPECT_FALSE(c.is_same(t));
  EXPECT_NE(c.storage().id(), x.storage().id());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.strides(), (Shape{3, 1}));
  EXPECT_EQ(c.to_vector(), t.to_vector());
  // size-1 dims with odd strides are still contiguous (torch ignores them)
  Tensor u = x.select(0, 1).unsqueeze(0);
  EXPECT_TRUE(u.is_contiguous());
  // clone always copies
  Tensor k = x.clone();
  EXPECT_NE(k.storage().id(), x.storage().id());
  EXPECT_TRUE(equal(k, x));
}

// ------------------------------------------------------------ geometry checks

TEST(TensorViews, GeometryOutsideStorageThrows) {
  Storage s = Storage::allocate(10 * sizeof(float));
  EXPECT_NO_THROW(Tensor(s, DType::Float32, {2, 5}, {5, 1}, 0));
  EXPECT_NO_THROW(Tensor(s, DType::Float32, {3}, {3}, 1));  // reaches 1+6=7
  EXPECT_THROW(Tensor(s, DType::Float32, {2, 5}, {5, 1}, 1), std::out_of_range);
  EXPECT_THROW(Tensor(s, DType::Float32, {11}, {1}, 0), std::out_of_range);
  EXPECT_NO_THROW(Tensor(s, DType::Float32, {4}, {3}, 0));  // reaches 9: the last element
  EXPECT_THROW(Tensor(s, DType::Float32, {4}, {3}, 1), std::out_of_range);  // reaches 10
  EXPECT_THROW(Tensor(s, DType::Float32, {1}, {1}, 10), std::out_of_range);
  EXPECT_THROW(Tensor(s, DType::Float32, {1}, {1}, -1), std::out_of_range);
  EXPECT_THROW(Tensor(s, DType::Float64, {6}, {1}, 0), std::out_of_range);  // only 5 doubles
  EXPECT_THROW(Tensor(s, DType::Float32, {2}, {-1}, 1), std::out_of_range);
  EXPECT_THROW(Tensor(s, DType::Float32, {2, 2}, {1}, 0), std::invalid_argument);
  // overflow in the stride arithmetic must not wrap around into "fits"
  EXPECT_THROW(Tensor(s, DType::Float32, {3}, {INT64_MAX / 2 + 1}, 0), std::out_of_range);
  // empty tensors read nothing
  EXPECT_NO_THROW(Tensor(s, DType::Float32, {0, 5}, {5, 1}, 0));
  const std::string msg = message_of([&] { Tensor(s, DType::Float32, {11}, {1}, 0); });
  EXPECT_NE(msg.find("10 elements"), std::string::npos) << msg;
  // as_strided goes through the same check
  Tensor base(s, DType::Float32, {10}, {1}, 0);
  EXPECT_THROW(base.as_strided({4}, {3}, 1), std::out_of_range);
  EXPECT_EQ(base.as_strided({3}, {3}, 1).storage().id(), base.storage().id());
}

// ------------------------------------------------------------ to(dtype)

TEST(TensorConvert, FloatToHalfKnownBitPatterns) {
  // value -> IEEE binary16 bits, round to nearest even
  const std::vector<std::pair<double, uint16_t>> cases = {
      {0.0, 0x0000},          {-0.0, 0x8000},
      {1.0, 0x3C00},          {-2.0, 0xC000},
      {0.5, 0x3800},          {65504.0, 0x7BFF},                  // max half
      {65519.0, 0x7BFF},      {65520.0, 0x7C00},                  // rounds to inf
      {1e10, 0x7C00},         {-1e10, 0xFC00},
      {0.1, 0x2E66},          {1.0 / 3.0, 0x3555},
      {std::ldexp(1.0, -14), 0x0400},                              // min normal
      {std::ldexp(1.0, -24), 0x0001},                              // min subnormal
      {std::ldexp(1.0, -25), 0x0000},                              // tie -> even (0)
      {std::ldexp(3.0, -25), 0x0002},                              // tie 1.5 -> 2
      {std::ldexp(1023.0, -24), 0x03FF},                           // max subnormal
      {1.0 + std::ldexp(1.0, -11), 0x3C00},                        // tie -> even
      {1.0 + std::ldexp(3.0, -11), 0x3C02},                        // tie -> even (up)
      {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -20), 0x3C01}, // above tie -> up
      {2048.0 + 1.0, 0x6800},                                      // 2049 -> 2048 (tie, even)
      {2048.0 + 3.0, 0x6802},                                      // 2051 -> 2052
      {std::numeric_limits<double>::infinity(), 0x7C00},
  };
  std::vector<double> vals;
  for (auto& c : cases) vals.push_back(c.first);
  for (DType src : {DType::Float32, DType::Float64}) {
    Tensor h = from_vector(vals, {static_cast<int64_t>(vals.size())}, src).to(DType::Float16);
    ASSERT_EQ(h.dtype(), DType::Float16);
    for (size_t i = 0; i < cases.size(); ++i)
      EXPECT_EQ(bits16(h, i), cases[i].second) << "value " << cases[i].first << " from " << dtype_name(src);
  }
  // NaN stays NaN (quiet), both ways
  Tensor n = from_vector(std::vector<double>{NAN}, {1}, DType::Float32).to(DType::Float16);
  EXPECT_EQ(bits16(n) & 0x7C00, 0x7C00);
  EXPECT_NE(bits16(n) & 0x03FF, 0);
  EXPECT_TRUE(std::isnan(n.item()));
  // back to float: exact for every finite pattern checked
  Tensor h = from_vector(vals, {static_cast<int64_t>(vals.size())}, DType::Float64).to(DType::Float16);
  const auto back = h.to(DType::Float32).to_vector();
  EXPECT_EQ(back[2], 1.0);
  EXPECT_EQ(back[5], 65504.0);
  EXPECT_EQ(back[10], 0.0999755859375);  // 0x2E66
  EXPECT_EQ(back[13], std::ldexp(1.0, -24));
  EXPECT_EQ(back[16], std::ldexp(1023.0, -24));
  EXPECT_TRUE(std::isinf(back[8]));
}

TEST(TensorConvert, FloatToBFloat16KnownBitPatterns) {
  const std::vector<std::pair<float, uint16_t>> cases = {
      {1.0f, 0x3F80},
      {-2.5f, 0xC020},
      {3.14159265f, 0x4049},                                       // 0x40490FDB truncates
      {std::bit_cast<float>(0x3F808000u), 0x3F80},                 // tie -> even
      {std::bit_cast<float>(0x3F818000u), 0x3F82},                 // tie -> even (up)
      {std::bit_cast<float>(0x3F808001u), 0x3F81},                 // above tie
      {std::bit_cast<float>(0x7F7FFFFFu), 0x7F80},                 // FLT_MAX rounds to inf
      {0.0f, 0x0000},
      {std::numeric_limits<float>::infinity(), 0x7F80},
  };
  std::vector<float> vals;
  for (auto& c : cases) vals.push_back(c.first);
  Tensor b = from_vector(vals, {static_cast<int64_t>(vals.size())}).to(DType::BFloat16);
  ASSERT_EQ(b.dtype(), DType::BFloat16);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(bits16(b, i), cases[i].second) << "case " << i;
  EXPECT_EQ(b.to(DType::Float64).to_vector()[2], 3.140625);
  Tensor n = from_vector(std::vector<float>{NAN}, {1}).to(DType::BFloat16);
  EXPECT_TRUE(std::isnan(n.item()));
}

TEST(TensorConvert, HalfPrecisionMatchesTorchValues) {
  // torch 2.11: float64 values (dtypes.pt) and their .half() / .bfloat16()
  const std::vector<double> f64 = {1.9840565147113567, 0.8007722948775564, 0.1850317747120449,
                                   1.8639519860562648, -1.3557178941116488, -0.4983907036067158,
                                   -4.568305452039167, 1.145051707254567,  -3.0828257274941646,
                                   -1.6891583959613654, -2.676871526343102, -0.17475053725108908};
  const std::vector<double> f16 = {1.984375,  0.80078125, 0.18505859375, 1.8642578125, -1.35546875, -0.498291015625,
                                   -4.56640625, 1.1455078125, -3.08203125, -1.689453125, -2.677734375, -0.1748046875};
  const std::vector<double> bf16 = {1.984375, 0.80078125, 0.1845703125, 1.8671875, -1.359375, -0.498046875,
                                    -4.5625,  1.1484375,  -3.078125,    -1.6875,   -2.671875, -0.1748046875};
  Tensor x = from_vector(f64, {3, 4}, DType::Float64);
  EXPECT_EQ(x.to(DType::Float16).to_vector(), f16);
  EXPECT_EQ(x.to(DType::BFloat16).to_vector(), bf16);
  EXPECT_EQ(x.to(DType::Float32).to(DType::Float16).to_vector(), f16);
}

TEST(TensorConvert, EveryDTypeRoundTrips) {
  const std::vector<double> v = {0, 1, -3, 100, 7};
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int8, DType::Int16,
                   DType::Int32, DType::Int64, DType::Complex64, DType::Complex128}) {
    Tensor t = from_vector(v, {5}, DType::Float64).to(dt);
    EXPECT_EQ(t.dtype(), dt);
    EXPECT_EQ(t.nbytes(), 5 * element_size(dt));
    EXPECT_EQ(t.to_vector(), v) << dtype_name(dt);
    EXPECT_EQ(t.to(DType::Float64).to_vector(), v) << dtype_name(dt);
  }
  // torch: float -> int truncates toward zero
  Tensor f = from_vector(std::vector<double>{-1.7, 1.7, 2.5, -0.2}, {4}, DType::Float64);
  EXPECT_EQ(f.to(DType::Int64).to_vector(), (std::vector<double>{-1, 1, 2, 0}));
  EXPECT_EQ(f.to(DType::Int32).to_vector(), (std::vector<double>{-1, 1, 2, 0}));
  // bool: nonzero -> true
  EXPECT_EQ(f.to(DType::Bool).to_vector(), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(from_vector(std::vector<double>{0, 3, 0}, {3}).to(DType::Bool).to_vector(),
            (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(from_vector(std::vector<double>{0, 200, 255}, {3}).to(DType::UInt8).to_vector(),
            (std::vector<double>{0, 200, 255}));
  // int64 beyond float's 24 bits survives int64 -> float64
  Tensor big = from_vector(std::vector<double>{9007199254740992.0}, {1}, DType::Int64);
  EXPECT_EQ(static_cast<const int64_t*>(big.raw_data())[0], 9007199254740992LL);
  // same dtype: the tensor itself
  Tensor s = zeros({2});
  EXPECT_TRUE(s.to(DType::Float32).is_same(s));
  EXPECT_FALSE(s.to(DType::Float64).is_same(s));
  // a strided source converts in logical order
  Tensor st = from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {2, 3}, DType::Float64).t();
  EXPECT_EQ(st.to(DType::Int16).to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

// ------------------------------------------------------------ values in/out

TEST(TensorValues, FromVectorToVectorAndItem) {
  Tensor a = from_vector(std::vector<double>{1.5, -2, 3.25, 4}, {2, 2}, DType::Float64);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{1.5, -2, 3.25, 4}));
  EXPECT_EQ(a.t().to_vector(), (std::vector<double>{1.5, 3.25, -2, 4}));
  Tensor f = from_vector(std::vector<float>{0.1f, 0.2f}, {2});
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_EQ(f.to_vector()[0], static_cast<double>(0.1f));
  EXPECT_THROW(from_vector(std::vector<double>{1, 2, 3}, {2, 2}), std::invalid_argument);
  EXPECT_THROW(from_vector(std::vector<float>{1, 2, 3}, {2}), std::invalid_argument);
  // float64 -> float32 storage rounds like a C cast
  Tensor r = from_vector(std::vector<double>{0.1}, {1}, DType::Float32);
  EXPECT_EQ(r.item(), static_cast<double>(0.1f));

  EXPECT_EQ(a.select(0, 1).select(0, 0).item(), 3.25);
  EXPECT_EQ(scalar_tensor(-4.5, DType::Float64).item(), -4.5);
  EXPECT_EQ(full({1, 1, 1}, 2.0, DType::Int32).item(), 2.0);
  EXPECT_THROW(a.item(), std::invalid_argument);
  EXPECT_THROW(zeros({0}).item(), std::invalid_argument);
  const std::string msg = message_of([&] { a.item(); });
  EXPECT_NE(msg.find("4 elements"), std::string::npos) << msg;
  EXPECT_THROW(a.data_ptr<float>(), std::invalid_argument);  // dtype checked
  EXPECT_EQ(a.data_ptr<double>()[3], 4.0);
  EXPECT_EQ(a.slice(0, 1, 2).data_ptr<double>()[0], 3.25);  // points at the offset
}

TEST(TensorValues, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3}, DType::Float64);
  dst.copy_(from_vector(std::vector<double>{1, 2, 3}, {3}, DType::Float32));  // row broadcast
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  dst.copy_(from_vector(std::vector<double>{7, 8}, {2, 1}, DType::Int64));  // column broadcast
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{7, 7, 7, 8, 8, 8}));
  dst.copy_(scalar_tensor(-1));
  EXPECT_EQ(dst.to_vector(), (std::vector<double>(6, -1.0)));
  EXPECT_THROW(dst.copy_(zeros({4})), std::invalid_argument);
  EXPECT_THROW(dst.copy_(zeros({3, 3})), std::invalid_argument);
  // into a transposed destination
  Tensor d2 = zeros({3, 2}, DType::Float64);
  d2.t().copy_(from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64));
  EXPECT_EQ(d2.to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  // copy_ returns *this
  Tensor d3 = zeros({2});
  EXPECT_EQ(&d3.copy_(ones({2})), &d3);
  // a leaf requiring grad cannot be overwritten outside no_grad
  Tensor leaf = zeros({2}, DType::Float64);
  leaf.set_requires_grad();
  EXPECT_THROW(leaf.copy_(ones({2})), std::invalid_argument);
}

TEST(TensorValues, ArangeFullAndToString) {
  EXPECT_EQ(arange(0, 5).to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 2, 0.25).to_vector(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(5, 0, -2).to_vector(), (std::vector<double>{5, 3, 1}));
  EXPECT_THROW(arange(0, 1, 0), std::invalid_argument);
  EXPECT_THROW(empty({2, -1}), std::invalid_argument);
  EXPECT_EQ(to_string(from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::Int64)),
            "tensor([[1, 2], [3, 4]], dtype=int64)");
  EXPECT_EQ(to_string(scalar_tensor(0.5)), "tensor(0.5000)");
}

TEST(TensorValues, ArangeRefusesNonFiniteAndAbsurdRanges) {
  // torch: "unsupported range: 0 -> inf"; an empty tensor would hide the bug.
  for (double end : {INFINITY, -INFINITY, NAN}) {
    try {
      arange(0, end);
      ADD_FAILURE() << "arange(0, " << end << ") did not throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("must be finite"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(arange(NAN, 1), std::invalid_argument);
  EXPECT_THROW(arange(0, 1, NAN), std::invalid_argument);
  try {
    arange(0, 1e30);
    ADD_FAILURE() << "arange(0, 1e30) did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("would have"), std::string::npos) << e.what();
  }
  EXPECT_EQ(arange(0, 3, 1, DType::Int64).to_vector(), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(arange(0, 3, 1, DType::Int64).dtype(), DType::Int64);
}

TEST(TensorValues, ImpossibleAllocationSaysHowMuch) {
  // 2^50 floats = 4 PiB: no machine has it. Still a std::bad_alloc, with a
  // message (a bare "std::bad_alloc" named nothing).
  try {
    empty({int64_t{1} << 50});
    ADD_FAILURE() << "a 4 PiB tensor was allocated";
  } catch (const std::bad_alloc& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory: cannot allocate 4503599627370496 bytes"), std::string::npos) << msg;
  }
}
