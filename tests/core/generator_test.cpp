// Generator: reproducible seeding, state round trips, and the distributions
// of rand/randn/randperm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/generator.h"
#include "core/ops.h"

using namespace torchless;

TEST(Generator, SameSeedSameStreamDifferentSeedDifferentStream) {
  Generator a(42), b(42), c(43);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.next_u64());
    vb.push_back(b.next_u64());
    vc.push_back(c.next_u64());
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  EXPECT_EQ(std::set<uint64_t>(va.begin(), va.end()).size(), 100u);  // no short cycle
  EXPECT_EQ(a.seed(), 42u);
  // manual_seed restarts the stream
  a.manual_seed(42);
  EXPECT_EQ(a.next_u64(), va[0]);
  // tensors too
  Generator g1(7), g2(7);
  EXPECT_TRUE(equal(rand({50}, DType::Float32, &g1), rand({50}, DType::Float32, &g2)));
  EXPECT_TRUE(equal(randn({50}, DType::Float64, &g1), randn({50}, DType::Float64, &g2)));
  EXPECT_TRUE(equal(randperm(50, &g1), randperm(50, &g2)));
  // the default generator obeys manual_seed
  manual_seed(5);
  Tensor d1 = rand({10});
  manual_seed(5);
  EXPECT_TRUE(equal(rand({10}), d1));
  EXPECT_EQ(default_generator().seed(), 5u);
}

TEST(Generator, StateRoundTripContinuesTheSameStream) {
  Generator g(123);
  for (int i = 0; i < 17; ++i) g.next_u64();
  const std::string state = g.get_state();
  EXPECT_EQ(state.size(), 40u);
  std::vector<double> expect;
  for (int i = 0; i < 20; ++i) expect.push_back(g.uniform_double());
  Tensor t_expect = randn({33}, DType::Float64, &g);

  Generator h(999);  // a different generator picks up where g was
  h.set_state(state);
  EXPECT_EQ(h.seed(), 123u);
  std::vector<double> got;
  for (int i = 0; i < 20; ++i) got.push_back(h.uniform_double());
  EXPECT_EQ(got, expect);
  EXPECT_TRUE(equal(randn({33}, DType::Float64, &h), t_expect));
  EXPECT_EQ(h.get_state(), g.get_state());
  // malformed states are refused and leave the generator as it was
  const std::string before = h.get_state();
  EXPECT_THROW(h.set_state("short"), std::invalid_argument);
  EXPECT_THROW(h.set_state(std::string(40, '\0')), std::invalid_argument);  // all-zero xoshiro state
  EXPECT_EQ(h.get_state(), before);
}

TEST(Generator, RandIsInUnitIntervalAndUniform) {
  Generator g(1);
  for (DType dt : {DType::Float32, DType::Float64}) {
    const int64_t n = 200000;
    const auto v = rand({n}, dt, &g).to_vector();
    double s = 0, s2 = 0;
    std::vector<int> bins(10, 0);
    for (double x : v) {
      ASSERT_GE(x, 0.0);
      ASSERT_LT(x, 1.0);
      s += x;
      s2 += x * x;
      ++bins[static_cast<int>(x * 10)];
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / n));
    EXPECT_NEAR(var, 1.0 / 12, 0.003);
    // chi-square over 10 bins, 9 dof: 99.99th percentile ~ 33.7
    double chi2 = 0;
    for (int b : bins) chi2 += (b - n / 10.0) * (b - n / 10.0) / (n / 10.0);
    EXPECT_LT(chi2, 33.7) << dtype_name(dt);
  }
  // uniform_ maps into [lo, hi)
  Tensor t = empty({10000}, DType::Float64);
  uniform_(t, -3, 5, &g);
  const auto tv = t.to_vector();
  EXPECT_GE(*std::min_element(tv.begin(), tv.end()), -3.0);
  EXPECT_LT(*std::max_element(tv.begin(), tv.end()), 5.0);
  EXPECT_LT(*std::min_element(tv.begin(), tv.end()), -2.9);
  EXPECT_GT(*std::max_element(tv.begin(), tv.end()), 4.9);
  Tensor nc = zeros({4, 4}).t();
  EXPECT_THROW(uniform_(nc, 0, 1, &g), std::invalid_argument);
}

TEST(Generator, RandnHasMeanZeroStdOne) {
  Generator g(2);
  const int64_t n = 200000;
  const auto v = randn({n}, DType::Float64, &g).to_vector();
  double s = 0, s2 = 0, s4 = 0;
  int64_t within1 = 0;
  for (double x : v) {
    ASSERT_TRUE(std::isfinite(x));
    s += x;
    s2 += x * x;
    s4 += x * x * x * x;
    within1 += std::abs(x) < 1.0;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(static_cast<double>(n)));
  EXPECT_NEAR(std::sqrt(var), 1.0, 0.01);
  EXPECT_NEAR(s4 / n, 3.0, 0.1);  // Gaussian kurtosis
  EXPECT_NEAR(static_cast<double>(within1) / n, 0.6826894921, 0.005);
  // float32 variant draws from the same distribution
  const auto f = randn({n}, DType::Float32, &g).to_vector();
  double fs = 0;
  for (double x : f) fs += x;
  EXPECT_NEAR(fs / n, 0.0, 5 / std::sqrt(static_cast<double>(n)));
  EXPECT_THROW(randn({2}, DType::Int64, &g), std::invalid_argument);
}

TEST(Generator, RandpermIsAPermutation) {
  Generator g(3);
  for (int64_t n : {0, 1, 2, 10, 1000}) {
    Tensor p = randperm(n, &g);
    EXPECT_EQ(p.dtype(), DType::Int64);
    EXPECT_EQ(p.sizes(), (Shape{n}));
    auto v = p.to_vector();
    std::sort(v.begin(), v.end());
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(v[i], static_cast<double>(i));
  }
  // not the identity, and position 0 takes every value about equally often
  Tensor p = randperm(1000, &g);
  EXPECT_NE(p.to_vector(), arange(0, 1000, 1, DType::Int64).to_vector());
  std::vector<int> first(5, 0);
  for (int i = 0; i < 5000; ++i) ++first[static_cast<int>(randperm(5, &g).to_vector()[0])];
  for (int c : first) EXPECT_NEAR(c, 1000, 150);
  EXPECT_THROW(randperm(-1, &g), std::invalid_argument);
  // below(n) is in range and unbiased enough
  std::vector<int> hist(3, 0);
  for (int i = 0; i < 30000; ++i) ++hist[g.below(3)];
  for (int c : hist) EXPECT_NEAR(c, 10000, 500);
  EXPECT_THROW(g.below(0), std::invalid_argument);
}
