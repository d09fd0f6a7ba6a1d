// `mpirun -np 2 torchless train` against its independent truth, a single
// process: the same weights after an epoch (to float32 all-reduce
// rounding), the same validation loss and accuracy bit for bit, resuming
// across a change of rank count, bit-identical resume at a fixed rank
// count, and the errors: ranks that disagree, a batch that does not split,
// a rank that dies and a rank that hangs (each ends the job, with a message,
// well inside the `timeout` each such run is given).
//
// Every run uses one thread per rank and a reduced Fashion-MNIST.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/generator.h"
#include "dist/launch.h"
#include "io/torch_load.h"
#include "nn/fashion_classifier.h"
#include "optim/adam.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using namespace torchless;
using namespace torchless::test;

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kData = "/usr/share/datasets/fashion-mnist";
#ifdef TORCHLESS_MPIEXEC
const std::string kMpirun = TORCHLESS_MPIEXEC;
#else
const std::string kMpirun;
#endif
// 2001 images at batch 128: 15 full batches and a last one of 81, split 41/40.
// 2500 validation images: batches of 1000, 1000, 500, split 2/1 over two ranks.
const std::string kSmall = "--data " + kData + " --train-size 2001 --valid-size 2500 --threads 1 --batch-size 128";

bool have_data() {
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    if (!fs::exists(kData + "/" + f)) return false;
  return true;
}

#define REQUIRE_MPI()                                                                           \
  do {                                                                                          \
    if (!dist::mpi_built() || kMpirun.empty()) GTEST_SKIP() << "built without MPI";             \
    if (!have_data()) GTEST_SKIP() << kData << " is missing (Debian package dataset-fashion-mnist)"; \
  } while (0)

// Open MPI refuses root without these (tests and CI run as root); the
// ranks must not be pinned to cores other jobs share. In a sanitized build
// (make test-asan) LeakSanitizer would fail every rank at exit on Open MPI's
// own allocations, made by components it has unloaded (so no suppression
// can name them): leak checking is off in the ranks, and stays on for the
// data-parallel code in dist_unit_test's one-rank runs.
std::string mpirun(int np) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" "
         "timeout 180 " + kMpirun +
         " --oversubscribe --bind-to none -np " + std::to_string(np) + " ";
}

CommandResult train(int np, const std::string& args) {
  const std::string cmd = (np == 0 ? std::string() : mpirun(np)) + kCli + " train " + args + " 2>&1";
  return run_command(cmd);
}

struct Checkpoint {
  optim::TrainingState state;
  std::vector<std::pair<std::string, std::vector<double>>> params;
  std::vector<std::vector<double>> exp_avg;  ///< Adam's first moments, per parameter
};

Checkpoint read_checkpoint(const std::string& path) {
  io::LoadOptions lo;
  lo.map_location = io::MapLocation::parse("cpu");
  const io::ValuePtr ck = io::load(path, lo);
  Generator g;
  nn::FashionClassifier model(0.2, &g);
  optim::Adam opt(model.parameters());
  Checkpoint c;
  c.state = optim::load_training_checkpoint(ck, model, opt);
  for (const auto& [name, t] : model.named_parameters()) c.params.emplace_back(name, tensor_values(t));
  for (size_t i = 0; i < opt.num_params(); ++i) c.exp_avg.push_back(tensor_values(opt.state(i).exp_avg));
  return c;
}

// The largest |a - b| over every parameter.
double max_difference(const Checkpoint& a, const Checkpoint& b) {
  double worst = 0;
  for (size_t i = 0; i < a.params.size(); ++i)
    for (size_t j = 0; j < a.params[i].second.size(); ++j)
      worst = std::max(worst, std::fabs(a.params[i].second[j] - b.params[i].second[j]));
  return worst;
}

// The largest |a - b| over Adam's first moments, relative to the largest |a|.
// Adam's step is nearly invariant to the gradient's scale, so the weights
// alone would not show a gradient summed instead of averaged; its moments do.
double moment_difference(const Checkpoint& a, const Checkpoint& b) {
  double worst = 0, largest = 0;
  for (size_t i = 0; i < a.exp_avg.size(); ++i)
    for (size_t j = 0; j < a.exp_avg[i].size(); ++j) {
      worst = std::max(worst, std::fabs(a.exp_avg[i][j] - b.exp_avg[i][j]));
      largest = std::max(largest, std::fabs(a.exp_avg[i][j]));
    }
  return largest > 0 ? worst / largest : worst;
}

bool same_bits(const Checkpoint& a, const Checkpoint& b) {
  return a.params == b.params && a.state.rng_state == b.state.rng_state;
}

// After 16 Adam steps at lr 1e-3 the weights of two runs whose gradients
// differ only in float32 summation order differ by 4e-6 at most (measured;
// Adam amplifies the rounding of near-zero gradients), a tenth of this;
// training on other items moves them by ~1e-3.
constexpr double kAllReduceTolerance = 5e-5;
// Adam's moments, relative: float32 rounding gives ~1e-6; a gradient off by
// a factor (summed instead of averaged, a rank's share scaled wrongly) gives ~1.
constexpr double kMomentTolerance = 1e-3;

TEST(DataParallelTrain, TwoRanksAtBatch128MatchOneProcessAfterAnEpoch) {
  REQUIRE_MPI();
  TempDir tmp;
  const std::string args = kSmall + " --epochs 1 --dropout 0 --checkpoint-dir ";
  const CommandResult one = train(0, args + tmp / "one");
  ASSERT_EQ(one.rc, 0) << one.out;
  const CommandResult two = train(2, args + tmp / "two");
  ASSERT_EQ(two.rc, 0) << two.out;
  EXPECT_TRUE(contains(two.out, "Data-parallel: 2 ranks over MPI")) << two.out;
  // Rank 0 alone reports: one summary line.
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '{'), 1) << two.out;
  const Checkpoint a = read_checkpoint(tmp / "one/current_checkpoint.pt");
  const Checkpoint b = read_checkpoint(tmp / "two/current_checkpoint.pt");
  EXPECT_EQ(b.state.epoch, 1);
  EXPECT_LT(max_difference(a, b), kAllReduceTolerance);
  EXPECT_LT(moment_difference(a, b), kMomentTolerance);
  EXPECT_TRUE(fs::exists(tmp / "two/best_model.pt"));
  // The same permutation from the same generator: the shared stream ends where one process's does.
  EXPECT_EQ(a.state.rng_state, b.state.rng_state);
  EXPECT_NEAR(a.state.train_loss, b.state.train_loss, 1e-5);
}

TEST(DataParallelTrain, ValidationLossAndAccuracyAreOneProcesssBitForBit) {
  REQUIRE_MPI();
  TempDir tmp;
  // lr 0: the weights stay the initial ones, identical in both runs, so the
  // validation pass alone is compared.
  const std::string args = kSmall + " --epochs 1 --lr 0 --checkpoint-dir ";
  const CommandResult one = train(0, args + tmp / "one");
  ASSERT_EQ(one.rc, 0) << one.out;
  const CommandResult two = train(2, args + tmp / "two");
  ASSERT_EQ(two.rc, 0) << two.out;
  const Checkpoint a = read_checkpoint(tmp / "one/current_checkpoint.pt");
  const Checkpoint b = read_checkpoint(tmp / "two/current_checkpoint.pt");
  ASSERT_EQ(a.params, b.params);
  EXPECT_EQ(a.state.valid_loss, b.state.valid_loss);  // exact doubles
  EXPECT_EQ(a.state.valid_accuracy, b.state.valid_accuracy);
  const auto test_accuracy = [](const std::string& out) { return out.substr(out.find("\"test_accuracy\"")); };
  EXPECT_EQ(test_accuracy(one.out).substr(0, 30), test_accuracy(two.out).substr(0, 30));
}

TEST(DataParallelTrain, ResumesAcrossAChangeOfRankCount) {
  REQUIRE_MPI();
  TempDir tmp;
  const std::string start = tmp / "start", by_one = tmp / "by_one", by_two = tmp / "by_two";
  ASSERT_EQ(train(2, kSmall + " --epochs 1 --dropout 0 --checkpoint-dir " + start).rc, 0);
  const std::string ck = start + "/current_checkpoint.pt";
  // A 2-rank checkpoint resumed by one process and by two ranks: the same
  // shuffle (the saved shared generator) and, without dropout, the same
  // steps up to all-reduce rounding.
  const CommandResult one = train(0, kSmall + " --resume " + ck + " --epochs 2 --checkpoint-dir " + by_one);
  ASSERT_EQ(one.rc, 0) << one.out;
  const CommandResult two = train(2, kSmall + " --resume " + ck + " --epochs 2 --checkpoint-dir " + by_two);
  ASSERT_EQ(two.rc, 0) << two.out;
  EXPECT_TRUE(contains(two.out, "Resuming from")) << two.out;
  const Checkpoint a = read_checkpoint(by_one + "/current_checkpoint.pt");
  const Checkpoint b = read_checkpoint(by_two + "/current_checkpoint.pt");
  EXPECT_EQ(a.state.epoch, 2);
  EXPECT_EQ(b.state.epoch, 2);
  EXPECT_EQ(a.state.rng_state, b.state.rng_state);
  EXPECT_LT(max_difference(a, b), kAllReduceTolerance);
  EXPECT_LT(moment_difference(a, b), kMomentTolerance);
  EXPECT_GT(max_difference(read_checkpoint(ck), b), 1e-4);  // it trained

  // And a one-process checkpoint resumed by two ranks.
  const CommandResult back = train(2, kSmall + " --resume " + by_one + "/current_checkpoint.pt --epochs 3 --no-checkpoints");
  EXPECT_EQ(back.rc, 0) << back.out;
  EXPECT_TRUE(contains(back.out, "Epoch 3/3")) << back.out;
}

TEST(DataParallelTrain, ResumeAtTheSameRankCountIsBitIdentical) {
  REQUIRE_MPI();
  TempDir tmp;
  // With dropout (each rank draws its own masks): 1 epoch + resume to 2 == 2 straight.
  const std::string straight = tmp / "straight", split = tmp / "split";
  ASSERT_EQ(train(2, kSmall + " --epochs 2 --checkpoint-dir " + straight).rc, 0);
  ASSERT_EQ(train(2, kSmall + " --epochs 1 --checkpoint-dir " + split).rc, 0);
  const CommandResult resumed =
      train(2, kSmall + " --resume " + split + "/current_checkpoint.pt --epochs 2 --checkpoint-dir " + split);
  ASSERT_EQ(resumed.rc, 0) << resumed.out;
  const Checkpoint a = read_checkpoint(straight + "/current_checkpoint.pt");
  const Checkpoint b = read_checkpoint(split + "/current_checkpoint.pt");
  EXPECT_EQ(b.state.epoch, 2);
  EXPECT_TRUE(same_bits(a, b)) << "max difference " << max_difference(a, b);
  EXPECT_EQ(a.state.valid_loss, b.state.valid_loss);

  // Dropout draws differ per rank: with them the 2-rank run is not the
  // one-process run (which draws every mask from the shared stream).
  ASSERT_EQ(train(0, kSmall + " --epochs 1 --checkpoint-dir " + (tmp / "one")).rc, 0);
  EXPECT_GT(max_difference(read_checkpoint(tmp / "one/current_checkpoint.pt"),
                           read_checkpoint(split + "/best_model.pt")), 1e-4);
}

TEST(DataParallelTrain, RanksThatDisagreeStopTogetherNamingTheDifference) {
  REQUIRE_MPI();
  TempDir tmp;
  // Different flags: rank 1 gets --batch-size 128, rank 0 64.
  const std::string base = "--data " + kData + " --train-size 512 --valid-size 200 --threads 1 --epochs 1 --no-checkpoints";
  CommandResult r = run_command(mpirun(2) + "sh -c " +
                                quote("exec " + kCli + " train " + base +
                                      " --batch-size $((64 + 64 * OMPI_COMM_WORLD_RANK))") + " 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out";
  EXPECT_TRUE(contains(r.out, "the ranks disagree")) << r.out;
  EXPECT_TRUE(contains(r.out, "rank 1 has --batch-size 128 where rank 0 has 64")) << r.out;

  // Different data: rank 1's folder has the train and test files swapped.
  const std::string swapped = tmp / "swapped";
  fs::create_directories(swapped);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"},
           {"train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
           {"t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"},
           {"t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"}})
    fs::create_symlink(kData + "/" + from, swapped + "/" + to);
  const std::string flags = " --train-size 512 --valid-size 200 --validation test --threads 1 --epochs 1 --no-checkpoints";
  r = run_command(mpirun(2) + "sh -c " +
                  quote("if [ $OMPI_COMM_WORLD_RANK = 1 ]; then d=" + swapped + "; else d=" + kData + "; fi; exec " +
                        kCli + " train --data $d" + flags) + " 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out";
  EXPECT_TRUE(contains(r.out, "rank 1 has the training images (--data, --train-size) 512 images, fingerprint")) << r.out;

  // Different checkpoints (same recipe, different weights).
  const std::string mk = "--data " + kData + " --valid-size 200 --threads 1 --epochs 1 --batch-size 64 --checkpoint-dir ";
  ASSERT_EQ(train(0, mk + tmp / "a --train-size 256").rc, 0);
  ASSERT_EQ(train(0, mk + tmp / "b --train-size 320").rc, 0);
  r = run_command(mpirun(2) + "sh -c " +
                  quote("if [ $OMPI_COMM_WORLD_RANK = 1 ]; then c=b; else c=a; fi; exec " + kCli + " train --data " +
                        kData + " --valid-size 200 --train-size 256 --threads 1 --epochs 2 --no-checkpoints --resume " +
                        tmp.path().string() + "/$c/current_checkpoint.pt") + " 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out";
  EXPECT_TRUE(contains(r.out, "rank 1 has the model's weights (--seed, --init, --resume) fingerprint")) << r.out;
}

TEST(DataParallelTrain, AGlobalBatchThatDoesNotSplitIsRefused) {
  REQUIRE_MPI();
  const CommandResult r = train(2, kSmall + " --batch-size 63 --epochs 1 --no-checkpoints");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out";
  EXPECT_TRUE(contains(r.out, "--batch-size 63 is the global batch, and it does not split evenly over the 2 ranks"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "pass --batch-size 62 or 64")) << r.out;
}

TEST(DataParallelTrain, ARankThatDiesEndsTheJobWithAMessage) {
  REQUIRE_MPI();
  TempDir tmp;
  const CommandResult r = run_command("TORCHLESS_TEST_FAULT=die:1:3 " + mpirun(2) + kCli + " train " + kSmall +
                                      " --epochs 1 --checkpoint-dir " + tmp / "ck" + " 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out: the job hung on the dead rank\n" << r.out;
  EXPECT_TRUE(contains(r.out, "rank 1: TORCHLESS_TEST_FAULT: dying at step 3")) << r.out;
  // mpirun names the rank that died.
  EXPECT_TRUE(contains(r.out, "rank 1") && contains(r.out, "signal 9")) << r.out;
  EXPECT_FALSE(fs::exists(tmp / "ck/current_checkpoint.pt"));  // died before the epoch's checkpoint
}

TEST(DataParallelTrain, ARankThatHangsEndsTheJobAfterTheTimeout) {
  REQUIRE_MPI();
  const CommandResult r = run_command("TORCHLESS_TEST_FAULT=hang:1:3 " + mpirun(2) + kCli + " train " + kSmall +
                                      " --epochs 1 --no-checkpoints --dist-timeout 3 2>&1");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out: the watchdog did not end the job\n" << r.out;
  EXPECT_TRUE(contains(r.out, "rank 1: TORCHLESS_TEST_FAULT: hanging at step 3")) << r.out;
  EXPECT_TRUE(contains(r.out, "rank 0 of 2: the gradient all-reduce (collective #")) << r.out;
  EXPECT_TRUE(contains(r.out, "for the other ranks (limit 3.0 s, --dist-timeout)")) << r.out;
}

TEST(DataParallelTrain, OneRankUnderMpirunIsAPlainProcess) {
  REQUIRE_MPI();
  const std::string args = "--data " + kData + " --train-size 512 --valid-size 200 --threads 1 --epochs 1 --no-checkpoints";
  const CommandResult plain = train(0, args), one = train(1, args);
  ASSERT_EQ(plain.rc, 0) << plain.out;
  ASSERT_EQ(one.rc, 0) << one.out;
  EXPECT_FALSE(contains(one.out, "Data-parallel")) << one.out;
  const auto losses = [](const std::string& out) { return out.substr(out.find("\"train_loss\""), 80); };
  EXPECT_EQ(losses(plain.out), losses(one.out));
}

}  // namespace
