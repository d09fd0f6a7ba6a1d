// torchless train/eval --device cuda end to end: a short epoch on the GPU,
// its checkpoint saved with location cuda:0, evaluated on both devices and
// resumed on the CPU. Needs a GPU ("skipped: no CUDA device" without one)
// and Fashion-MNIST; it has never run on a GPU yet.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "core/device.h"
#include "io/idx.h"
#include "io/torch_load.h"
#include "support/test_util.h"
#include "support/cuda_skip.h"

using namespace torchless;
using torchless::test::quote;
using torchless::test::run_command;
namespace fs = std::filesystem;

namespace {

// The number after "key": in the last JSON line of `out` (NaN when missing).
double json_number(const std::string& out, const std::string& key) {
  const size_t line = out.rfind("\n{");
  const size_t at = out.find("\"" + key + "\":", line == std::string::npos ? 0 : line);
  if (at == std::string::npos) return NAN;
  return std::stod(out.substr(at + key.size() + 3));
}

}  // namespace

TEST(CudaTrainCli, ShortEpochSavesACudaCheckpointThatEvaluatesAndResumesOnTheCpu) {
  REQUIRE_CUDA_DEVICE();
  const std::string data = io::default_fashion_mnist_dir();
  if (!fs::exists(data + "/train-images-idx3-ubyte.gz")) GTEST_SKIP() << "skipped: no Fashion-MNIST at " << data;
  const fs::path dir = fs::temp_directory_path() / ("torchless_cuda_cli_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string cli = quote(TORCHLESS_CLI);
  const auto train = run_command(cli + " train --device cuda --epochs 1 --train-size 4096 --valid-size 1000 --seed 3 " +
                                 "--checkpoint-dir " + quote(dir.string()) + " 2>&1");
  ASSERT_EQ(train.rc, 0) << train.out;
  EXPECT_GT(json_number(train.out, "valid_accuracy"), 0.6) << train.out;

  const std::string ckpt = (dir / "current_checkpoint.pt").string();
  io::LoadOptions cpu;
  cpu.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint ck = io::load_checkpoint(ckpt, cpu);
  int on_cuda = 0;
  for (const auto& s : ck.storages) on_cuda += s.location == "cuda:0";
  EXPECT_GE(on_cuda, 10) << "the model's 10 tensors (and Adam's state) save as cuda:0";

  const auto eval_gpu = run_command(cli + " eval " + quote(ckpt) + " --device cuda 2>&1");
  const auto eval_cpu = run_command(cli + " eval " + quote(ckpt) + " 2>&1");
  ASSERT_EQ(eval_gpu.rc, 0) << eval_gpu.out;
  ASSERT_EQ(eval_cpu.rc, 0) << eval_cpu.out;
  EXPECT_NEAR(json_number(eval_gpu.out, "test_accuracy"), json_number(eval_cpu.out, "test_accuracy"), 0.002);
  EXPECT_NEAR(json_number(eval_gpu.out, "test_loss"), json_number(eval_cpu.out, "test_loss"), 1e-4);

  const auto resumed = run_command(cli + " train --resume " + quote(ckpt) + " --epochs 2 --train-size 4096 " +
                                   "--valid-size 1000 --device cpu --checkpoint-dir " + quote((dir / "cpu").string()) +
                                   " 2>&1");
  EXPECT_EQ(resumed.rc, 0) << resumed.out;
  fs::remove_all(dir);
}
