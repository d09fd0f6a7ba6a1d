// A downstream CMake project can use torchless: (a) installed, through
// find_package(Torchless); (b) vendored, through add_subdirectory.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

struct CmdResult {
  int status;
  std::string output;
};

CmdResult run(const std::string& cmd) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = pclose(f);
  return {status, out};
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Last `n` characters, for readable failure messages.
std::string tail(const std::string& s, size_t n = 6000) { return s.size() > n ? s.substr(s.size() - n) : s; }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "torchless_consumer_XXXXXX").string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const fs::path kSource = TORCHLESS_SOURCE_DIR;
const fs::path kBinary = TORCHLESS_BINARY_DIR;
const fs::path kConsumer = kSource / "tests" / "cmake" / "consumer";

// What main.cpp must print: y = x @ W^T + b by hand, and its gradients.
void expect_consumer_output(const std::string& out) {
  EXPECT_NE(out.find("loss=2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("y=6.5,-0.5,-0.5,-3.5,\n"), std::string::npos) << out;
  EXPECT_NE(out.find("grad_w=3,1,0,3,1,0,\n"), std::string::npos) << out;
  EXPECT_NE(out.find("grad_b=2,2,\n"), std::string::npos) << out;
}

}  // namespace

TEST(CMakeConsumer, FindPackageAfterInstall) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path prefix = tmp.path() / "prefix", build = tmp.path() / "build";
  CmdResult r = run("cmake --install " + q(kBinary) + " --prefix " + q(prefix));
  ASSERT_EQ(r.status, 0) << tail(r.output);
  EXPECT_TRUE(fs::exists(prefix / "include" / "torchless" / "core" / "tensor.h"));
  EXPECT_TRUE(fs::exists(prefix / "include" / "torchless" / "nn" / "linear.h"));
  const bool has_config = fs::exists(prefix / "lib" / "cmake" / "Torchless" / "TorchlessConfig.cmake") ||
                          fs::exists(prefix / "lib64" / "cmake" / "Torchless" / "TorchlessConfig.cmake");
  EXPECT_TRUE(has_config);

  r = run("cmake -S " + q(kConsumer) + " -B " + q(build) + " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" +
          q(prefix));
  ASSERT_EQ(r.status, 0) << tail(r.output);
  r = run("cmake --build " + q(build) + " -j2");
  ASSERT_EQ(r.status, 0) << tail(r.output);
  r = run(q(build / "consumer"));
  ASSERT_EQ(r.status, 0) << r.output;
  expect_consumer_output(r.output);
}

TEST(CMakeConsumer, AddSubdirectoryFromSource) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path build = tmp.path() / "build";
  CmdResult r = run("cmake -S " + q(kConsumer) + " -B " + q(build) +
                    // Debug: -O0 compiles the whole library about twice as fast; the
                    // point here is the CMake wiring, not speed.
                    " -DCMAKE_BUILD_TYPE=Debug -DTORCHLESS_SOURCE_DIR=" + q(kSource) +
                    " -DTORCHLESS_TESTS=OFF -DTORCHLESS_BENCH=OFF -DTORCHLESS_CUDA=OFF");
  ASSERT_EQ(r.status, 0) << tail(r.output);
  r = run("cmake --build " + q(build) + " -j4 --target consumer");
  ASSERT_EQ(r.status, 0) << tail(r.output);
  r = run(q(build / "consumer"));
  ASSERT_EQ(r.status, 0) << r.output;
  expect_consumer_output(r.output);
}
