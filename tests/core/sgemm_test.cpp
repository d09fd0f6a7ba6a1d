// The AVX-512 float32 GEMM against a double-precision reference loop, over
// every operand layout, ragged tile edges, several k- and n-blocks, beta
// 0 / 1 / other, and output blocks of a wider matrix; the same computed by a
// team of threads (one late, one absent: the others take their tiles); plus
// cpu::gemm's threaded split and matmul() through it.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "core/cpu/gemm.h"
#include "core/cpu/sgemm_avx512.h"
#include "core/ops.h"

namespace torchless::cpu {
namespace {

// A [rows, cols] matrix in row- or column-major storage with `pad` spare
// elements per leading dimension, filled with values in [-1, 1).
struct Stored {
  int64_t rows, cols;
  bool transposed;
  int64_t ld;
  std::vector<float> data;
  Stored(int64_t r, int64_t c, bool t, int64_t pad, std::mt19937& rng) : rows(r), cols(c), transposed(t) {
    ld = (t ? r : c) + pad;
    data.assign(static_cast<size_t>(ld * (t ? c : r)), std::numeric_limits<float>::quiet_NaN());
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) at(i, j) = u(rng);
  }
  float& at(int64_t i, int64_t j) { return data[static_cast<size_t>(transposed ? j * ld + i : i * ld + j)]; }
  SMatrix view() const { return {data.data(), transposed ? 1 : ld, transposed ? ld : 1}; }
};

// How the product is computed: alone, or by a team of `members` threads
// where member 0 starts late (if `late`) and member `absent` never joins.
struct Team {
  int members = 0;
  int absent = -1;
  bool late = true;
};

void multiply(int64_t m, int64_t n, int64_t k, SMatrix a, SMatrix b, float* c, int64_t ldc, float beta,
              const float* bias, Team t) {
  if (t.members == 0) return sgemm_avx512(m, n, k, a, b, c, ldc, beta, bias);
  SgemmTeam team(t.members);
  std::atomic<bool> go{false};  // the members start together, not as they are created
  std::vector<std::thread> threads;
  for (int i = 0; i < t.members; ++i) {
    if (i == t.absent) continue;
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      if (i == 0 && t.late) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      sgemm_avx512_team(m, n, k, a, b, c, ldc, beta, bias, team, i);
    });
  }
  go = true;
  for (auto& th : threads) th.join();
}

void check(int64_t m, int64_t n, int64_t k, bool ta, bool tb, float beta, int64_t ldc_pad, uint32_t seed,
           bool with_bias = false, Team team = {}) {
  std::mt19937 rng(seed);
  Stored a(m, k, ta, 3, rng), b(k, n, tb, 5, rng);
  std::vector<float> bias(static_cast<size_t>(n));
  for (auto& v : bias) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
  const int64_t ldc = n + ldc_pad;
  std::vector<float> c(static_cast<size_t>(m * ldc));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : c) v = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
  const std::vector<float> c0 = c;
  multiply(m, n, k, a.view(), b.view(), c.data(), ldc, beta, with_bias ? bias.data() : nullptr, team);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t at = static_cast<size_t>(i * ldc + j);
      if (j >= n) {  // padding of a wider matrix: untouched
        ASSERT_TRUE(std::isnan(c[at]) ? std::isnan(c0[at]) : c[at] == c0[at]) << "wrote outside the block";
        continue;
      }
      double want = (beta == 0.0f ? 0.0 : double(beta) * c0[at]) + (with_bias ? bias[static_cast<size_t>(j)] : 0.0);
      for (int64_t p = 0; p < k; ++p) want += double(a.at(i, p)) * b.at(p, j);
      ASSERT_NEAR(c[at], want, 1e-5 * (k + 1)) << "m=" << m << " n=" << n << " k=" << k << " ta=" << ta
                                                << " tb=" << tb << " beta=" << beta << " team of " << team.members
                                                << " at (" << i << ", " << j << ")";
    }
  }
}

class SgemmAvx512 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_sgemm_avx512()) GTEST_SKIP() << "skipped: this build has no AVX-512 GEMM";
  }
};

TEST_F(SgemmAvx512, EveryLayoutAndRaggedEdges) {
  uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {12, 32, 16}, {13, 33, 17},
                             {11, 31, 15}, {5, 70, 3}, {25, 10, 64}, {40, 47, 33}})
        check(m, n, k, ta, tb, 0.0f, 0, seed++);
}

TEST_F(SgemmAvx512, SeveralKAndNBlocks) {
  // k > 256 and n > 512 cross the packing blocks; the second and later
  // k-blocks accumulate onto the first.
  check(30, 530, 600, false, true, 0.0f, 0, 7);
  check(26, 520, 300, true, false, 1.0f, 0, 8);
}

TEST_F(SgemmAvx512, BetaAndBlockOfWiderMatrix) {
  for (float beta : {0.0f, 1.0f, -0.5f}) {
    check(17, 40, 20, false, false, beta, 7, 11);
    check(24, 64, 300, true, true, beta, 16, 12);
  }
}

TEST_F(SgemmAvx512, BiasAddedOnceAcrossKBlocks) {
  check(13, 50, 20, false, true, 0.0f, 0, 21, true);
  check(30, 530, 600, true, false, 0.0f, 3, 22, true);  // 3 k-blocks, 2 n-blocks
  check(12, 16, 300, false, false, 1.0f, 0, 23, true);
}

TEST_F(SgemmAvx512, TeamWithLateAndAbsentMembers) {
  // Several k-blocks (each tile's blocks must be added in order, whoever
  // runs them), several n-blocks, few rows (column chunks), ragged edges,
  // beta and bias; member 0 starts late, so its range is taken by others.
  uint32_t seed = 40;
  for (Team team : {Team{2}, Team{3}, Team{3, 1}, Team{4, 3}})
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{256, 530, 700}, {30, 530, 600}, {7, 100, 650},
                           {203, 149, 301}, {1, 1, 1}})
      for (float beta : {0.0f, 1.0f, -0.5f}) {
        check(m, n, k, seed % 2 == 0, seed % 3 == 0, beta, 3, seed, beta != 1.0f, team);
        ++seed;
      }
}

TEST_F(SgemmAvx512, TeamAddsEachTilesKBlocksInOrder) {
  // One or two tiles and 25 short k-blocks: members starting together keep
  // taking the next k-block of a tile whose previous block another member
  // is still adding. (Without the wait for it, this failed 40-50% of runs.)
  for (uint32_t seed = 60; seed < 100; ++seed)
    check(seed % 2 ? 12 : 24, 32, 8000, false, true, 0.0f, 0, seed, true, Team{3, -1, false});
}

TEST_F(SgemmAvx512, ZeroKScalesC) {
  std::vector<float> c{1.0f, 2.0f, 3.0f, 4.0f};
  float a = 0, b = 0;
  sgemm_avx512(2, 2, 0, {&a, 1, 1}, {&b, 1, 1}, c.data(), 2, 0.5f);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
  // In a team, exactly one member scales (not once per member).
  std::vector<float> d{1.0f, 2.0f, 3.0f, 4.0f};
  multiply(2, 2, 0, {&a, 1, 1}, {&b, 1, 1}, d.data(), 2, 0.5f, nullptr, Team{3});
  EXPECT_EQ(d, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f}));
}

TEST(Gemm, ThreadedSplitMatchesFloat64) {
  // cpu::gemm splits the output across threads in whole tiles; every
  // transposition the MLP uses (x W^T, g W, g^T x) must agree with float64.
  const int saved = gemm_threads();
  set_gemm_threads(2);
  // Big enough (>1 MFLOP per thread) to be split, ragged in every dimension.
  Tensor x = randn({203, 301}), w = randn({149, 301}), g = randn({203, 149});
  const auto close = [](const Tensor& got, const Tensor& want) {
    EXPECT_TRUE(allclose(got.to(DType::Float64), want, 1e-4, 1e-4));
  };
  close(matmul(x, w.t()), matmul(x.to(DType::Float64), w.to(DType::Float64).t()));
  close(matmul(g, w), matmul(g.to(DType::Float64), w.to(DType::Float64)));
  close(matmul(g.t(), x), matmul(g.to(DType::Float64).t(), x.to(DType::Float64)));
  // linear() hands its bias to the GEMM instead of pre-filling the output.
  Tensor bias = randn({149});
  close(linear(x, w, bias), linear(x.to(DType::Float64), w.to(DType::Float64), bias.to(DType::Float64)));
  set_gemm_threads(saved);
}

TEST(Gemm, StorageOnlyDTypeThrowsAtAnySize) {
  // Small products run on one thread, big ones in a parallel region: both
  // must report the dtype, not terminate the process.
  for (int64_t n : {4, 300}) {
    Tensor a = ones({n, n}, DType::Int64);
    try {
      matmul(a, a);
      ADD_FAILURE() << "no exception for int64 at n=" << n;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("int64"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace torchless::cpu
