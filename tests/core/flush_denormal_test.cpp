// set_flush_denormal: denormal float results become zero in every thread the
// kernels use, only while it is on; and in Adam, where denormals arise in
// training, it changes the state's denormal values and not the parameters.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/autograd.h"
#include "core/ops.h"
#include "optim/adam.h"

using namespace torchless;

namespace {

// Restores IEEE mode and the thread count whatever a test does.
class FlushDenormal : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!set_flush_denormal(false)) GTEST_SKIP() << "this CPU has no flush-to-zero mode";
  }
  void TearDown() override {
    set_flush_denormal(false);
    set_num_threads(2);
  }
};

// 1e-30f * 1e-9f is about 1e-39, below FLT_MIN (1.18e-38): a denormal.
Tensor denormal_products(int64_t n) { return full({n}, 1e-30) * full({n}, 1e-9); }

int64_t count_zero(const Tensor& t) {
  const float* p = t.data_ptr<float>();
  int64_t zeros = 0;
  for (int64_t i = 0; i < t.numel(); ++i) zeros += p[i] == 0.0f;
  return zeros;
}

}  // namespace

TEST_F(FlushDenormal, OffByDefaultKeepsIeeeDenormals) {
  EXPECT_FALSE(flush_denormal());
  const Tensor t = denormal_products(1 << 20);  // large enough to run on every thread
  const float expected = static_cast<float>(static_cast<double>(1e-30f) * static_cast<double>(1e-9f));
  ASSERT_GT(expected, 0.0f);
  ASSERT_LT(expected, FLT_MIN);
  for (int64_t i = 0; i < t.numel(); i += 4099) ASSERT_EQ(t.data_ptr<float>()[i], expected) << i;
  EXPECT_EQ(count_zero(t), 0);
}

TEST_F(FlushDenormal, OnFlushesInEveryThreadAndOffRestores) {
  set_num_threads(2);
  ASSERT_TRUE(set_flush_denormal(true));
  EXPECT_TRUE(flush_denormal());
  const int64_t n = 1 << 20;
  EXPECT_EQ(count_zero(denormal_products(n)), n);
  // Threads that OpenMP starts after the switch (a larger team) flush too.
  set_num_threads(4);
  EXPECT_EQ(count_zero(denormal_products(n)), n);
  // Normal values are untouched.
  EXPECT_EQ((full({n}, 1e-20) * full({n}, 1e-9)).data_ptr<float>()[n - 1], 1e-20f * 1e-9f);
  set_flush_denormal(false);
  EXPECT_EQ(count_zero(denormal_products(n)), 0);
}

// Pool threads outside the current team when the mode changes get it when a
// larger team takes them back. (GCC's libgomp ends surplus threads when a
// team shrinks, so there this passes either way; LLVM's libomp parks them,
// which is the case this covers.)
TEST_F(FlushDenormal, ParkedThreadsTakeTheModeWhenTheTeamGrowsAgain) {
  const int64_t n = 1 << 20;
  set_num_threads(4);
  set_flush_denormal(true);
  set_num_threads(2);
  set_flush_denormal(false);  // threads 3 and 4 are parked, still flushing
  set_num_threads(4);
  EXPECT_EQ(count_zero(denormal_products(n)), 0);
  set_num_threads(2);
  set_flush_denormal(true);
  set_num_threads(4);
  EXPECT_EQ(count_zero(denormal_products(n)), n);
}

// The training case: a weight whose gradient turns zero. exp_avg then
// shrinks by beta1 = 0.9 a step: from 1e-4 it is denormal after ~750 steps.
// With flushing it becomes 0 there; the parameter stays bit-identical, as
// the update an exp_avg below FLT_MIN makes is far below the weight's ulp.
TEST_F(FlushDenormal, AdamStateFlushesWhileParametersStayBitIdentical) {
  auto train = [](bool flush) {
    set_flush_denormal(flush);
    Tensor p = full({3}, 0.25);
    p.set_requires_grad(true);
    optim::Adam opt({p}, optim::AdamOptions{});
    for (int step = 0; step < 800; ++step) {
      p.set_grad(full({3}, step == 0 ? 1e-3 : 0.0));
      opt.step();
    }
    set_flush_denormal(false);
    return std::make_pair(p.detach().contiguous(), opt.state(0).exp_avg.contiguous());
  };
  const auto [p_ieee, m_ieee] = train(false);
  const auto [p_flush, m_flush] = train(true);
  // IEEE: 1e-4 * 0.9^799, about 2.7e-41, a denormal.
  const float m = m_ieee.data_ptr<float>()[0];
  EXPECT_GT(m, 0.0f);
  EXPECT_LT(m, FLT_MIN);
  EXPECT_NEAR(m, 1e-4 * std::pow(0.9, 799), 1e-3 * 1e-4 * std::pow(0.9, 799));
  EXPECT_EQ(count_zero(m_flush), 3);
  EXPECT_EQ(std::memcmp(p_ieee.data_ptr<float>(), p_flush.data_ptr<float>(), 3 * sizeof(float)), 0);
  // And the parameter did move (the first step's update is lr-sized).
  EXPECT_LT(p_ieee.data_ptr<float>()[0], 0.25f - 5e-4f);
  EXPECT_EQ(count_zero(m_ieee), 0);
}
