// Saves proven crash-safe: `torchless train --checkpoint-dir D` is killed
// with SIGKILL at random moments, 100 times, many of them inside a save
// (writes are slowed by the TORCHLESS_TEST_SLOW_WRITES_US hook so that a
// save spans many milliseconds). After every kill, D/current_checkpoint.pt
// and D/best_model.pt are each absent or a complete checkpoint that loads
// and verifies, and their epochs never go back; the next run resumes and
// leaves no temp file behind. A full disk (a small tmpfs) makes the save
// fail with a clear error and keeps the old checkpoint intact.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/torch_load.h"
#include "io/zip_reader.h"
#include "support/test_util.h"

namespace {

namespace fs = std::filesystem;
using torchless::test::CommandResult;
using torchless::test::contains;
using torchless::test::quote;
using torchless::test::run_command;
using torchless::test::TempDir;
using torchless::test::write_file;

// An idx file of `n` items of `item` bytes each, shaped [n] + dims.
std::string idx(uint8_t ndim, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(ndim)};
  for (uint32_t d : dims)
    for (int k = 3; k >= 0; --k) s += static_cast<char>((d >> (8 * k)) & 0xFF);
  return s + payload;
}

// A small random data set in Fashion-MNIST's layout: the runs start in
// milliseconds, so the kills land in training and in saves, not in loading.
void write_dataset(const fs::path& dir, uint32_t train, uint32_t test) {
  std::mt19937 rng(7);
  auto bytes = [&](size_t n, int mod) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() % mod);
    return s;
  };
  fs::create_directories(dir);
  write_file(dir / "train-images-idx3-ubyte", idx(3, {train, 28, 28}, bytes(size_t{train} * 784, 256)));
  write_file(dir / "train-labels-idx1-ubyte", idx(1, {train}, bytes(train, 10)));
  write_file(dir / "t10k-images-idx3-ubyte", idx(3, {test, 28, 28}, bytes(size_t{test} * 784, 256)));
  write_file(dir / "t10k-labels-idx1-ubyte", idx(1, {test}, bytes(test, 10)));
}

// Starts `torchless train ARGS` with slowed writes; returns its pid.
pid_t start_train(const std::vector<std::string>& args, long slow_writes_us) {
  std::fflush(stdout);  // or the child would print this process's buffer too
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (slow_writes_us > 0) ::setenv("TORCHLESS_TEST_SLOW_WRITES_US", std::to_string(slow_writes_us).c_str(), 1);
    std::vector<std::string> all = {TORCHLESS_CLI, "train"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!std::getenv("CRASH_TEST_VERBOSE")) {
      std::freopen("/dev/null", "w", stdout);
      std::freopen("/dev/null", "w", stderr);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Whether `pid` holds a file of `dir` that is being saved: an unnamed
// O_TMPFILE ("dir/#123 (deleted)") or a named temp file ("*.tmp.*").
bool saving_into(pid_t pid, const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string target = fs::read_symlink(e.path(), ec).string();
    if (target.rfind(dir.string() + "/", 0) == 0 &&
        (contains(target, "(deleted)") || contains(target, ".tmp.")))
      return true;
  }
  return false;
}

// The epoch of a checkpoint that loads, verifies (structure, every CRC)
// and has a state_dict; -1 if `path` does not exist. Fails the test otherwise.
int64_t checked_epoch(const fs::path& path) {
  if (!fs::exists(path)) return -1;
  try {
    torchless::io::ZipReader::open(path).verify_all();
    torchless::io::ValuePtr ck = torchless::io::load(path);
    EXPECT_TRUE(ck->get("state_dict") != nullptr) << path;
    return ck->at("epoch")->as_int();
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << " is damaged after a kill: " << e.what();
    return -2;
  }
}

std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp.")) out.push_back(e.path().filename().string());
  return out;
}

TEST(CrashSafety, HundredKillsNeverLeaveADamagedCheckpoint) {
  TempDir tmp;
  const fs::path data = tmp / "data", ck = tmp / "ck";
  write_dataset(data, 256, 64);
  const std::vector<std::string> base = {"--data", data.string(), "--train-size", "192", "--valid-size", "64",
                                         "--batch-size", "64", "--threads", "1", "--checkpoint-dir", ck.string()};
  std::mt19937 rng(12345);
  int64_t last_current = -1, last_best = -1;
  int kills = 0, in_save = 0;
  for (int round = 0; round < 100; ++round) {
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--epochs", "100000"});
    if (fs::exists(ck / "current_checkpoint.pt")) args.insert(args.end(), {"--resume", (ck / "current_checkpoint.pt").string()});
    const pid_t pid = start_train(args, 2000);
    ASSERT_GT(pid, 0);
    // Two rounds in three wait for a save to begin (whatever this machine's
    // speed, a sanitizer build's too), then kill a random few milliseconds
    // into it; the others kill at a random moment. Note where each landed.
    const bool aim_at_save = rng() % 3 != 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20 + rng() % 400);
    bool saving = false;
    while (std::chrono::steady_clock::now() < (aim_at_save ? deadline : until)) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      saving = saving_into(pid, ck);
      if (aim_at_save && saving) {
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 8000));
        saving = saving_into(pid, ck);
        break;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const int64_t current = checked_epoch(ck / "current_checkpoint.pt");
    const int64_t best = checked_epoch(ck / "best_model.pt");
    ASSERT_GE(current, last_current) << "round " << round << ": current_checkpoint.pt went back";
    ASSERT_GE(best, last_best) << "round " << round << ": best_model.pt went back";
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": train ended by itself (status " << status << ")";
    ++kills;
    in_save += saving;
    last_current = current;
    last_best = best;
  }
  EXPECT_EQ(kills, 100);
  EXPECT_GE(in_save, 25) << "too few kills landed inside a save to prove anything";
  EXPECT_GE(last_current, 1) << "no checkpoint was ever completed";
  std::printf("[          ] %d kills, %d inside a save; last epoch %lld\n", kills, in_save,
              static_cast<long long>(last_current));

  // A later run resumes, trains one more epoch, and leaves no temp file.
  std::vector<std::string> args = base;
  args.insert(args.end(), {"--epochs", std::to_string(last_current + 1), "--resume",
                           (ck / "current_checkpoint.pt").string()});
  const pid_t pid = start_train(args, 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(checked_epoch(ck / "current_checkpoint.pt"), last_current + 1);
  EXPECT_EQ(temp_files(ck), std::vector<std::string>{});
  CommandResult r = run_command(quote(TORCHLESS_CLI) + " verify " + quote(ck / "best_model.pt"));
  EXPECT_EQ(r.rc, 0) << r.out;
}

// A tmpfs of 12 MiB holds one checkpoint (6.9 MB) but not two.
class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(mnt_);
    if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=12m") != 0)
      GTEST_SKIP() << "skipped: cannot mount a tmpfs here (" << std::strerror(errno) << "); needs root";
    mounted_ = true;
    write_dataset(tmp_ / "data", 128, 64);
  }
  void TearDown() override {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  CommandResult train(const std::string& extra) {
    return run_command(quote(TORCHLESS_CLI) + " train --data " + quote(tmp_ / "data") +
                       " --train-size 96 --valid-size 32 --threads 1 --checkpoint-dir " + quote(mnt_) + " " + extra +
                       " 2>&1");
  }
  TempDir tmp_;
  fs::path mnt_ = tmp_ / "small";
  bool mounted_ = false;
};

TEST_F(FullDisk, SaveFailsClearlyAndTheOldCheckpointStays) {
  // Epoch 1 saves current_checkpoint.pt, then best_model.pt does not fit.
  CommandResult r = train("--epochs 1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "best_model.pt")) << r.out;
  EXPECT_TRUE(contains(r.out, "No space left on device")) << r.out;
  EXPECT_EQ(checked_epoch(mnt_ / "current_checkpoint.pt"), 1);
  EXPECT_FALSE(fs::exists(mnt_ / "best_model.pt"));
  EXPECT_EQ(temp_files(mnt_), std::vector<std::string>{});

  // Resuming: the new current_checkpoint.pt cannot be written beside the
  // old one; the old one stays, whole, at epoch 1.
  r = train("--epochs 2 --resume " + quote(mnt_ / "current_checkpoint.pt"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "current_checkpoint.pt")) << r.out;
  EXPECT_TRUE(contains(r.out, "No space left on device")) << r.out;
  EXPECT_EQ(checked_epoch(mnt_ / "current_checkpoint.pt"), 1);
  EXPECT_EQ(temp_files(mnt_), std::vector<std::string>{});
  r = run_command(quote(TORCHLESS_CLI) + " verify " + quote(mnt_ / "current_checkpoint.pt"));
  EXPECT_EQ(r.rc, 0) << r.out;
}

}  // namespace
