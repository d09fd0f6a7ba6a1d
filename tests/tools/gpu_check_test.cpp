// tools/gpu-check, the CUDA backend's one-command device check, kept from
// rotting: its --dry-run runs here on every CI machine (no GPU needed)
// against this build tree, without configuring or building again.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/test_util.h"

namespace fs = std::filesystem;
using torchless::test::quote;
using torchless::test::read_file;
using torchless::test::run_command;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("torchless_gpu_check_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

// The script's python: the interop tests' (the one with torch).
std::string python_env() { return "PYTHON=" + quote(TORCHLESS_PYTHON) + " "; }

// The summary line of `step` ("" when missing): the step's name padded to
// 11 columns starts it, as the script prints it.
std::string step_line(const std::string& summary, const std::string& step) {
  const std::string key = step + std::string(step.size() < 11 ? 11 - step.size() : 0, ' ') + " ";
  size_t at = 0;
  while ((at = summary.find(key, at)) != std::string::npos) {
    if (at == 0 || summary[at - 1] == '\n') return summary.substr(at, summary.find('\n', at) - at);
    ++at;
  }
  return "";
}

}  // namespace

TEST(GpuCheck, DryRunReportsEveryStepWithoutADevice) {
  const fs::path out = fresh_dir("dry");
  const std::string cmd = python_env() + quote(std::string(TORCHLESS_SOURCE_DIR) + "/tools/gpu-check") +
                          " --dry-run --no-configure --no-build --build-dir " + quote(TORCHLESS_BINARY_DIR) +
                          " --out " + quote(out.string()) + " 2>&1";
  const auto r = run_command(cmd);
  EXPECT_EQ(r.rc, 0) << r.out;
  const std::string summary = read_file(out / "summary.txt");
  ASSERT_FALSE(summary.empty()) << r.out;
  EXPECT_NE(step_line(summary, "toolchain").find("PASS"), std::string::npos) << summary;
  EXPECT_NE(step_line(summary, "configure").find("SKIP"), std::string::npos) << summary;
  EXPECT_NE(step_line(summary, "build").find("SKIP"), std::string::npos) << summary;
  EXPECT_NE(step_line(summary, "ctest").find("DRY RUN"), std::string::npos) << summary;
  // A dry run never claims a pass for a device step, and a missing feature
  // is named as such.
  for (const char* step : {"ctest", "train", "checkpoint", "bench"}) {
    const std::string line = step_line(summary, step);
    EXPECT_FALSE(line.empty()) << step << " missing:\n" << summary;
    EXPECT_EQ(line.find("PASS"), std::string::npos) << line;
    EXPECT_EQ(line.find("FAIL"), std::string::npos) << line;
  }
  const std::string train = step_line(summary, "train");
  EXPECT_TRUE(train.find("NOT BUILT YET") != std::string::npos || train.find("DRY RUN") != std::string::npos ||
              train.find("SKIP") != std::string::npos)
      << train;
  EXPECT_NE(summary.find("result: no step failed (dry run)"), std::string::npos) << summary;
  // The device commands it would run are printed.
  EXPECT_NE(read_file(out / "ctest.log").find("would run: ctest --test-dir"), std::string::npos);
  EXPECT_NE(read_file(out / "ctest.log").find("-R Cuda"), std::string::npos);
  EXPECT_NE(read_file(out / "bench.log").find("compare_torch --device cuda"), std::string::npos);
  fs::remove_all(out);
}

// The real configure step, into a scratch tree: the flags it passes must
// give a tree with the CUDA backend on (nvcc is on every CI machine).
TEST(GpuCheck, DryRunConfiguresAnSm90Tree) {
  const fs::path out = fresh_dir("cfg"), tree = fresh_dir("tree");
  const std::string cmd = python_env() + quote(std::string(TORCHLESS_SOURCE_DIR) + "/tools/gpu-check") +
                          " --dry-run --build-dir " + quote(tree.string()) + " --out " + quote(out.string()) +
                          " 2>&1";
  const auto r = run_command(cmd);
  const std::string summary = read_file(out / "summary.txt");
  EXPECT_NE(step_line(summary, "configure").find("PASS"), std::string::npos)
      << summary << read_file(out / "configure.log");
  EXPECT_NE(step_line(summary, "build").find("DRY RUN"), std::string::npos) << summary;
  EXPECT_NE(read_file(out / "build.log").find("--target torchless_cli"), std::string::npos);
  // Nothing is built, so the later steps find no binaries: they fail, and
  // the script says so.
  EXPECT_NE(r.rc, 0) << summary;
  fs::remove_all(out);
  fs::remove_all(tree);
}

// The carried dependencies (tools/gpu-deps-bundle): a bundle made here must
// configure the sm_90 tree from its own Eigen, GoogleTest and zlib, as it
// will on the GPU machine, which has none of them.
TEST(GpuCheck, DepsBundleConfiguresFromItsOwnPrefix) {
  const fs::path deps = fresh_dir("deps"), out = fresh_dir("depscfg"), tree = fresh_dir("depstree");
  const auto b = run_command(quote(std::string(TORCHLESS_SOURCE_DIR) + "/tools/gpu-deps-bundle") + " " +
                             quote(deps.string()) + " 2>&1");
  ASSERT_EQ(b.rc, 0) << b.out;
  EXPECT_TRUE(fs::exists(deps / "include/eigen3/Eigen/Core"));
  EXPECT_TRUE(fs::exists(deps / "fashion-mnist/train-images-idx3-ubyte.gz"));
  const std::string cmd = python_env() + quote(std::string(TORCHLESS_SOURCE_DIR) + "/tools/gpu-check") +
                          " --dry-run --deps " + quote(deps.string()) + " --build-dir " + quote(tree.string()) +
                          " --out " + quote(out.string()) + " 2>&1";
  run_command(cmd);
  const std::string summary = read_file(out / "summary.txt");
  EXPECT_NE(step_line(summary, "configure").find("PASS"), std::string::npos)
      << summary << read_file(out / "configure.log");
  const std::string cache = read_file(tree / "CMakeCache.txt");
  EXPECT_NE(cache.find("Eigen3_DIR:UNINITIALIZED=" + (deps / "share/eigen3/cmake").string()), std::string::npos);
  EXPECT_NE(cache.find("ZLIB_INCLUDE_DIR:PATH=" + (deps / "include").string()), std::string::npos);
  fs::remove_all(out);
  fs::remove_all(tree);
  fs::remove_all(deps);
}
