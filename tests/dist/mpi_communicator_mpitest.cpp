// The MPI communicator and the collective parts of dist/, on two real ranks:
// run by ctest as `mpirun -np 2 mpi_communicator_mpitest` (so it is not a
// *_test.cpp: those run as one plain process). Both ranks run every test
// in the same order; each checks its own results.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "core/ops.h"
#include "dist/agreement.h"
#include "dist/data_parallel.h"
#include "dist/mpi_communicator.h"
#include "nn/fashion_classifier.h"
#include "optim/train_loop.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::dist;

namespace {

MpiCommunicator* g_comm = nullptr;
Communicator& comm() { return *g_comm; }

TEST(MpiCommunicator, TwoRanks) {
  EXPECT_EQ(comm().size(), 2);
  EXPECT_TRUE(test::contains(comm().name(), "Open MPI")) << comm().name();
}

TEST(MpiCommunicator, AllReduceSumsFloatsAndDoublesInPlace) {
  const int r = comm().rank();
  std::vector<float> f(1000);
  for (size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>(r + 1) * static_cast<float>(i);
  comm().all_reduce_sum(f.data(), f.size(), "test all-reduce");
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(f[i], 3.0f * static_cast<float>(i)) << i;
  // Counts beyond float's 24 bits stay exact in doubles.
  std::vector<double> d = {1e15 + r, r == 0 ? 0.5 : 0.25};
  comm().all_reduce_sum(d.data(), d.size(), "test all-reduce");
  EXPECT_EQ(d[0], 2e15 + 1);
  EXPECT_EQ(d[1], 0.75);
}

TEST(MpiCommunicator, BroadcastsFromAnyRoot) {
  const int r = comm().rank();
  std::vector<float> f(10, static_cast<float>(r));
  comm().broadcast(f.data(), f.size(), 1, "test broadcast");
  for (float v : f) EXPECT_EQ(v, 1.0f);
  char bytes[6] = {};
  if (r == 0) std::memcpy(bytes, "hello", 6);
  comm().broadcast_bytes(bytes, sizeof bytes, 0, "test broadcast");
  EXPECT_STREQ(bytes, "hello");
  comm().barrier("test barrier");
}

TEST(Agreement, SameDescriptionsPassAndADifferenceStopsEveryRank) {
  RunDescription d;
  d.add("--batch-size", "128");
  d.add("--lr", comm().rank() == 0 ? "0.1" : "0.1");
  EXPECT_NO_THROW(check_agreement(comm(), d));
  RunDescription e;
  e.add("--batch-size", "128");
  e.add("--lr", comm().rank() == 0 ? "0.1" : "0.5");
  // Both ranks throw, with one message.
  const std::string m = test::message_of([&] { check_agreement(comm(), e); });
  EXPECT_TRUE(test::contains(m, "rank 1 has --lr 0.5 where rank 0 has 0.1")) << m;
  EXPECT_THROW(check_agreement(comm(), e), DisagreementError);
}

TEST(GradientBucket, AveragesWithEachRanksShare) {
  // Rank r's gradient is r + 1 everywhere; shares 41/81 and 40/81 (a last
  // batch of 81 items): the result is the weighted mean on both ranks.
  Tensor p = zeros({3, 4});
  p.set_requires_grad(true);
  p.set_grad(full({3, 4}, comm().rank() + 1.0));
  GradientBucket bucket({p});
  const float share = comm().rank() == 0 ? 41.0f / 81.0f : 40.0f / 81.0f;
  const double loss = bucket.all_reduce(comm(), share, comm().rank() == 0 ? 2.0 : 3.0);
  EXPECT_EQ(loss, 5.0);
  const float want = 1.0f * (41.0f / 81.0f) + 2.0f * (40.0f / 81.0f);
  for (double v : test::tensor_values(p.grad())) EXPECT_NEAR(v, want, 1e-6);
}

TEST(DistEvaluate, TwoRanksGiveOneProcesssResultExactly) {
  Generator g(4);
  io::Dataset data;
  data.images = randn({2500, 784}, DType::Float32, &g);
  std::vector<double> labels(2500);
  for (auto& y : labels) y = static_cast<double>(g.below(10));
  data.labels = from_vector(labels, {2500}, DType::Int64);
  nn::FashionClassifier model(0.2, &g);  // the same on both ranks: same seed
  const optim::EvalStats one = optim::evaluate(model, data), two = evaluate(comm(), model, data);
  EXPECT_EQ(one.loss, two.loss);
  EXPECT_EQ(one.accuracy, two.accuracy);
  EXPECT_EQ(one.confusion, two.confusion);
}

TEST(BroadcastTrainingState, EveryRankEndsWithRankZerosWeightsAndMoments) {
  Generator g(static_cast<uint64_t>(comm().rank()) + 10);  // different weights per rank
  nn::FashionClassifier model(0.0, &g);
  optim::Adam opt(model.parameters());
  Generator dg(1);
  io::Dataset data;
  data.images = randn({64, 784}, DType::Float32, &dg);
  data.labels = zeros({64}, DType::Int64);
  optim::train_epoch(model, opt, data, 64, g);  // one step: Adam state defined
  broadcast_training_state(comm(), model, opt);
  uint64_t h = 0;
  for (const auto& [name, t] : model.named_parameters()) h = fingerprint(t, h);
  for (size_t i = 0; i < opt.num_params(); ++i) h = fingerprint(opt.state(i).exp_avg_sq, h);
  uint64_t root = h;
  comm().broadcast_bytes(&root, sizeof root, 0, "test broadcast");
  EXPECT_EQ(h, root);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto c = std::make_unique<MpiCommunicator>(std::chrono::milliseconds(60000));
  g_comm = c.get();
  // Both ranks report (rank 1's lines repeat rank 0's unless it failed); a
  // failure on either rank fails both.
  double failed = RUN_ALL_TESTS() != 0;
  c->all_reduce_sum(&failed, 1, "test result");
  const int worst = failed != 0 ? 1 : 0;
  if (worst && c->rank() != 0) std::fprintf(stderr, "mpi_communicator_mpitest: rank %d failed\n", c->rank());
  c.reset();
  return worst;
}
