// cuBLAS is loaded on first use, not at start-up: `torchless inspect` (no
// GPU work) must not map libcublas, and the backend must load libcublasLt
// when asked, or say which library it could not load. Runs on machines
// without a GPU: loading cuBLASLt needs no device.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/device.h"
#ifdef TORCHLESS_TEST_CUDA_BACKEND
#include "cuda/cublaslt_loader.h"
#endif

using namespace torchless;

namespace {

std::string maps_of(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/maps");
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Runs the CLI with `arg` and returns its /proc/PID/maps, read while it is
// alive: its stdout is a one-page pipe that nobody reads until the pipe is
// full, so the process is blocked writing its output (after doing the work)
// when the maps are read. `out_bytes` gets how much it printed in all.
std::string maps_while_printing(const std::vector<std::string>& args, size_t& out_bytes) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const int page = static_cast<int>(sysconf(_SC_PAGESIZE));
  const int cap = fcntl(fds[1], F_SETPIPE_SZ, page);
  if (cap < 0) throw std::runtime_error("F_SETPIPE_SZ failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string maps;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int queued = 0;
    ioctl(fds[0], FIONREAD, &queued);
    if (queued >= cap) {
      maps = maps_of(std::to_string(pid));
      break;
    }
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) break;  // exited without filling the pipe
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  out_bytes = 0;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out_bytes += static_cast<size_t>(n);
  close(fds[0]);
  kill(pid, SIGKILL);  // a no-op when it has exited; reaps below either way
  waitpid(pid, nullptr, 0);
  return maps;
}

}  // namespace

TEST(CudaLazyCublas, InspectDoesNotMapCublas) {
  const std::string fixture = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/fashion_checkpoint.pt";
  size_t printed = 0;
  const std::string maps = maps_while_printing({TORCHLESS_CLI, "inspect", fixture}, printed);
  // The maps must be the live CLI's (an exited process has none), caught
  // while it printed more than the pipe holds.
  ASSERT_GT(printed, static_cast<size_t>(sysconf(_SC_PAGESIZE))) << "inspect printed too little to block on the pipe";
  ASSERT_NE(maps.find("torchless"), std::string::npos) << "the CLI's maps were not read while it ran";
  EXPECT_EQ(maps.find("libcublas"), std::string::npos) << "inspect mapped cuBLAS:\n" << maps;
}

#ifdef TORCHLESS_TEST_CUDA_BACKEND
TEST(CudaLazyCublas, LoadsOnFirstUse) {
  EXPECT_FALSE(cuda::cublaslt_loaded());
  EXPECT_EQ(maps_of("self").find("libcublas"), std::string::npos) << "cuBLAS mapped before first use";
  std::string version;
  try {
    version = cuda::cublaslt_version();
  } catch (const std::runtime_error& e) {
    // A machine without cuBLAS: the error must name the library.
    EXPECT_NE(std::string(e.what()).find("libcublasLt.so."), std::string::npos) << e.what();
    GTEST_SKIP() << "skipped: cuBLASLt not installed here: " << e.what();
  }
  EXPECT_TRUE(cuda::cublaslt_loaded());
  EXPECT_NE(maps_of("self").find("libcublasLt.so"), std::string::npos);
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2) << version;
  EXPECT_EQ(cuda::cublaslt_version(), version);  // loaded once, same answer
  EXPECT_NE(cuda_summary().find("cuBLAS " + version), std::string::npos) << cuda_summary();
}
#endif
