// The data-parallel layer's pieces that need neither MPI nor a GPU: the
// batch split, the per-rank dropout seeds, the gradient bucket and the
// distributed evaluation over a one-rank communicator (whose truth is the
// single-process code), the agreement check's description, the watchdog,
// the test-fault parser, and the NCCL communicator's host logic.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <thread>

#include "core/generator.h"
#include "core/ops.h"
#include "core/storage.h"
#include "dist/agreement.h"
#include "dist/data_parallel.h"
#include "dist/launch.h"
#include "dist/nccl_communicator.h"
#include "dist/nccl_host.h"
#include "dist/test_fault.h"
#include "dist/watchdog.h"
#include "nn/fashion_classifier.h"
#include "optim/train_loop.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::dist;
using torchless::test::contains;
using torchless::test::message_of;

namespace {

// One rank that is the whole job: every collective leaves the data as it is
// (the sum over one rank), and counts the floats it was given.
class SoloCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "solo"; }
  void all_reduce_sum(float*, size_t n, const char*) override { floats += n; }
  void all_reduce_sum(double*, size_t, const char*) override {}
  void broadcast(float*, size_t, int, const char*) override {}
  void broadcast_bytes(void*, size_t, int, const char*) override {}
  void barrier(const char*) override {}
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
  size_t floats = 0;
};

io::Dataset random_data(int64_t n, uint64_t seed) {
  Generator g(seed);
  io::Dataset d;
  d.images = randn({n, 784}, DType::Float32, &g);
  std::vector<double> labels(static_cast<size_t>(n));
  for (auto& y : labels) y = static_cast<double>(g.below(10));
  d.labels = from_vector(labels, {n}, DType::Int64);
  return d;
}

TEST(DistSplit, EveryItemOfABatchGoesToExactlyOneRank) {
  for (int world : {1, 2, 3, 8})
    for (int64_t b : {1, 2, 7, 64, 81, 128}) {
      int64_t total = 0;
      for (int r = 0; r < world; ++r) {
        const int64_t m = shard_count(b, r, world);
        EXPECT_LE(m, (b + world - 1) / world);
        EXPECT_GE(m, b / world);
        total += m;
      }
      EXPECT_EQ(total, b) << "b=" << b << " world=" << world;
    }
  EXPECT_EQ(shard_count(81, 0, 2), 41);
  EXPECT_EQ(shard_count(81, 1, 2), 40);
  EXPECT_EQ(shard_count(1, 1, 2), 0);
}

TEST(DistSplit, AGlobalBatchMustSplitEvenly) {
  EXPECT_NO_THROW(check_global_batch(128, 2));
  EXPECT_NO_THROW(check_global_batch(5, 1));
  const std::string m = message_of([] { check_global_batch(100, 8); });
  EXPECT_TRUE(contains(m, "--batch-size 100 is the global batch")) << m;
  EXPECT_TRUE(contains(m, "pass --batch-size 96 or 104")) << m;
  EXPECT_TRUE(contains(message_of([] { check_global_batch(3, 4); }), "pass --batch-size 4")) << "no 0 suggested";
}

TEST(DistSplit, EachRankGetsItsOwnDropoutStream) {
  std::set<uint64_t> seeds;
  for (uint64_t key : {0ULL, 1ULL, 0xdeadbeefULL})
    for (int r = 0; r < 64; ++r) seeds.insert(rank_stream_seed(key, r));
  EXPECT_EQ(seeds.size(), 3u * 64u);
  EXPECT_EQ(rank_stream_seed(7, 3), rank_stream_seed(7, 3));  // reproducible
}

TEST(GradientBucket, OneRankReproducesTheSingleProcessEpochBitForBit) {
  // With one rank the bucket scales by 1 and the all-reduce is the identity:
  // the data-parallel epoch must be the plain one, shuffle and all.
  const io::Dataset data = random_data(300, 1);
  Generator g1(5), g2(5);
  nn::FashionClassifier m1(0.0, &g1), m2(0.0, &g2);
  optim::Adam o1(m1.parameters()), o2(m2.parameters());
  const optim::EpochStats plain = optim::train_epoch(m1, o1, data, 64, g1);
  SoloCommunicator solo;
  GradientBucket bucket(m2.parameters());
  const optim::EpochStats dp = train_epoch(solo, m2, o2, bucket, data, 64, g2);
  const auto p1 = m1.named_parameters(), p2 = m2.named_parameters();
  for (size_t i = 0; i < p1.size(); ++i)
    EXPECT_EQ(test::tensor_bytes(p1[i].second), test::tensor_bytes(p2[i].second)) << p1[i].first;
  EXPECT_EQ(g1.get_state(), g2.get_state());
  EXPECT_NEAR(plain.loss, dp.loss, 1e-6);
  EXPECT_EQ(bucket.steps(), 5);
  EXPECT_EQ(solo.floats, 5 * bucket.size());
}

TEST(GradientBucket, ADataParallelStepTakesNoMemoryFromTheSystem) {
  // The bucket is allocated once; after a warm-up epoch every buffer of a
  // step (batch, activations, gradients) comes from the CPU block cache.
  const io::Dataset data = random_data(256, 6);
  Generator g(7);
  nn::FashionClassifier model(0.2, &g);
  optim::Adam opt(model.parameters());
  SoloCommunicator solo;
  GradientBucket bucket(model.parameters());
  train_epoch(solo, model, opt, bucket, data, 64, g);
  const CpuCacheStats before = cpu_cache_stats();
  train_epoch(solo, model, opt, bucket, data, 64, g);
  const CpuCacheStats after = cpu_cache_stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_GT(after.reuses, before.reuses + 4 * 20);
}

TEST(GradientBucket, FrozenParametersAreLeftOutAndMissingGradientsBecomeZeros) {
  Generator g(0);
  nn::FashionClassifier model(0.0, &g);
  optim::freeze(model, {"fc1"});
  GradientBucket bucket(model.parameters());
  EXPECT_EQ(bucket.size(), 575050u - (784u * 512u + 512u) + 1u);
  SoloCommunicator solo;
  EXPECT_DOUBLE_EQ(bucket.all_reduce(solo, 0.5f, 3.0), 3.0);  // no gradients yet: zeros written
  for (const auto& [name, t] : model.named_parameters()) {
    if (name.rfind("fc1.", 0) == 0) {
      EXPECT_FALSE(t.grad().defined()) << name;
    } else {
      ASSERT_TRUE(t.grad().defined()) << name;
      for (double v : test::tensor_values(t.grad())) ASSERT_EQ(v, 0.0) << name;
    }
  }
}

TEST(DistEvaluate, OneRankIsOptimEvaluateExactly) {
  const io::Dataset data = random_data(2500, 2);
  Generator g(3);
  nn::FashionClassifier model(0.2, &g);
  SoloCommunicator solo;
  const optim::EvalStats a = optim::evaluate(model, data), b = evaluate(solo, model, data);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.accuracy, b.accuracy);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_TRUE(model.is_training());
}

TEST(Agreement, DescriptionsRoundTripAndNameTheirFirstDifference) {
  RunDescription a, b;
  a.add("--batch-size", "64");
  a.add("the model's weights", "fingerprint 0123");
  b = RunDescription::parse(a.serialize());
  EXPECT_EQ(RunDescription::first_difference(a, b), -1);
  RunDescription c;
  c.add("--batch-size", "64");
  c.add("the model's weights", "fingerprint 4567");
  EXPECT_EQ(RunDescription::first_difference(a, c), 1);
  RunDescription shorter;
  shorter.add("--batch-size", "64");
  EXPECT_EQ(RunDescription::first_difference(a, shorter), 1);
  EXPECT_THROW(a.add("bad\nname", "x"), std::invalid_argument);
  EXPECT_THROW(RunDescription::parse("no tab\n"), std::invalid_argument);
}

TEST(Agreement, FingerprintsTellTensorsApart) {
  const Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {4});
  EXPECT_EQ(fingerprint(x), fingerprint(x.clone()));
  EXPECT_NE(fingerprint(x), fingerprint(x.reshape({2, 2})));  // shape counts
  EXPECT_NE(fingerprint(x), fingerprint(x.to(DType::Float64)));
  Tensor y = x.clone();
  y.data_ptr<float>()[3] = 4.0000005f;
  EXPECT_NE(fingerprint(x), fingerprint(y));
  EXPECT_NE(fingerprint(Tensor()), fingerprint(x));
  const char bytes[] = "abcdefghij";
  EXPECT_NE(fingerprint(bytes, 9), fingerprint(bytes, 10));  // the tail counts
  EXPECT_EQ(hex64(0x1234), "0000000000001234");
}

TEST(Watchdog, FiresForASectionThatOutlastsItsTimeoutOnly) {
  std::atomic<int> fired{0};
  std::atomic<uint64_t> seq{0};
  Watchdog w(std::chrono::milliseconds(20), [&](const char* what, uint64_t s, double waited) {
    EXPECT_STREQ(what, "test collective");
    EXPECT_GE(waited, 0.02);
    seq = s;
    ++fired;
  });
  {
    const WatchdogScope quick(&w, "test collective", 1);  // disarmed at once
  }
  w.arm("test collective", 2);
  for (int i = 0; i < 1000 && fired == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  w.disarm();
  EXPECT_EQ(fired.load(), 1);  // once, and it disarmed itself after
  EXPECT_EQ(seq.load(), 2u);
  EXPECT_THROW(Watchdog(std::chrono::milliseconds(0), [](const char*, uint64_t, double) {}), std::invalid_argument);
}

TEST(TestFault, ParsesItsVariableAndRefusesMalformedOnes) {
  ::unsetenv("TORCHLESS_TEST_FAULT");
  EXPECT_EQ(TestFault::from_env().kind, TestFault::Kind::kNone);
  ::setenv("TORCHLESS_TEST_FAULT", "die:1:3", 1);
  const TestFault f = TestFault::from_env();
  EXPECT_EQ(f.kind, TestFault::Kind::kDie);
  EXPECT_EQ(f.rank, 1);
  EXPECT_EQ(f.step, 3);
  f.maybe_fire(0, 3);  // another rank: nothing happens
  f.maybe_fire(1, 2);
  for (const char* bad : {"die:1", "explode:1:3", "hang:-1:3", "hang:1:0", "die:1:3x"}) {
    ::setenv("TORCHLESS_TEST_FAULT", bad, 1);
    EXPECT_TRUE(contains(message_of([] { TestFault::from_env(); }), "TORCHLESS_TEST_FAULT")) << bad;
  }
  ::unsetenv("TORCHLESS_TEST_FAULT");
}

TEST(Launch, ReadsOpenMpisEnvironment) {
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(launched_world_size(), 1);  // a plain process
  EXPECT_EQ(launched_rank(), 0);
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  ::setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  EXPECT_EQ(launched_world_size(), 4);
  EXPECT_EQ(launched_rank(), 3);
  ::setenv("OMPI_COMM_WORLD_SIZE", "four", 1);
  EXPECT_TRUE(contains(message_of([] { launched_world_size(); }), "OMPI_COMM_WORLD_SIZE='four'"));
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::unsetenv("OMPI_COMM_WORLD_RANK");
}

TEST(NcclHost, OneRankPerGpu) {
  EXPECT_EQ(nccl_device_for(0, 8), 0);
  EXPECT_EQ(nccl_device_for(7, 8), 7);
  EXPECT_TRUE(contains(message_of([] { nccl_device_for(0, 0); }), "no CUDA GPU"));
  EXPECT_TRUE(contains(message_of([] { nccl_device_for(2, 2); }), "at most one rank per GPU"));
  ::setenv("OMPI_COMM_WORLD_LOCAL_RANK", "5", 1);
  EXPECT_EQ(launched_local_rank(), 5);
  ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  EXPECT_EQ(launched_local_rank(), 0);
}

TEST(NcclHost, PollUntilReturnsTheOutcomeOrGivesUpAtTheDeadline) {
  int looks = 0;
  EXPECT_EQ(poll_until([&] { return ++looks < 5 ? PollState::kPending : PollState::kDone; },
                       std::chrono::milliseconds(60000)),
            PollState::kDone);
  EXPECT_EQ(looks, 5);
  EXPECT_EQ(poll_until([] { return PollState::kFailed; }, std::chrono::milliseconds(60000)), PollState::kFailed);
  EXPECT_EQ(poll_until([] { return PollState::kPending; }, std::chrono::milliseconds(5)), PollState::kPending);
}

TEST(NcclHost, TheBuildSaysWhetherItHasNccl) {
  // Built with the CUDA backend and NCCL found, or not; without, the class
  // says so instead of failing to link.
  SoloCommunicator solo;
  if (!nccl_built()) {
    EXPECT_TRUE(contains(message_of([&] { NcclCommunicator c(solo, 0, std::chrono::milliseconds(1000)); }),
                         "built without NCCL"));
    return;
  }
  // One rank on GPU 0. Without a GPU (CI) it must fail with CommError
  // naming the CUDA call, not crash or hang; with one (a lent machine) it
  // joins a one-rank clique and its collectives run on the device.
  std::unique_ptr<NcclCommunicator> c;
  try {
    c = std::make_unique<NcclCommunicator>(solo, 0, std::chrono::milliseconds(30000));
  } catch (const CommError& e) {
    EXPECT_TRUE(contains(e.what(), "NCCL bootstrap")) << e.what();
    GTEST_SKIP() << "no usable GPU: " << e.what();
  }
  EXPECT_EQ(c->size(), 1);
  EXPECT_TRUE(contains(c->name(), "NCCL 2.")) << c->name();
  EXPECT_NO_THROW(c->barrier("test barrier"));
}

}  // namespace
