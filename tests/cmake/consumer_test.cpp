// A downstream CMake project can use torchless: (a) installed, through
// find_package(Torchless); (b) vendored, through add_subdirectory. The
// installed case also builds examples/embed and runs it on a state_dict
// torchless wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "io/fashion_mnist.h"
#include "io/torch_save.h"
#include "nn/fashion_classifier.h"
#include "nn/state_dict.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

using namespace torchless::test;  // support/test_util.h

namespace {

// Runs `cmd` with stderr merged into the captured output.
CommandResult run(const std::string& cmd) { return run_command(cmd + " 2>&1"); }

std::string q(const fs::path& p) { return quote(p.string()); }

// Last `n` characters, for readable failure messages.
std::string tail(const std::string& s, size_t n = 6000) { return s.size() > n ? s.substr(s.size() - n) : s; }

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

// examples/embed, built against the install at `prefix`, classifies a PGM
// with weights saved by io::save: it must print the class (and probability)
// the same model computes here.
void check_embed_example(const fs::path& prefix, const fs::path& dir) {
  using namespace torchless;
  // A FashionClassifier with fixed (seeded) weights; fc5.bias favours class 7
  // so the answer is not a near-tie.
  Generator gen(1234);
  nn::FashionClassifier model(0.2, &gen);
  {
    NoGradGuard no_grad;
    std::vector<double> bias(10, 0.0);
    bias[7] = 3.0;
    model.fc5->bias.copy_(from_vector(bias, {10}));
  }
  nn::StateDict sd = model.state_dict();
  io::save(nn::to_value(sd), (dir / "fashion.pt").string());
  // The same weights as a checkpoint dict whose keys carry 'module.'.
  nn::StateDict wrapped;
  for (const auto& [k, t] : sd) wrapped.insert("module." + k, t);
  auto ck = io::Value::dict();
  ck->set("epoch", io::Value::integer(3));
  ck->set("state_dict", nn::to_value(wrapped));
  io::save(ck, (dir / "checkpoint.pt").string());

  // A 28x28 P5 image, and what the model says about it.
  std::vector<float> x;
  std::string pgm = "P5\n# test image\n28 28\n255\n";
  for (int i = 0; i < 28 * 28; ++i) {
    const unsigned char p = static_cast<unsigned char>((i * 37 + (i / 28) * 11) % 256);
    pgm.push_back(static_cast<char>(p));
    x.push_back((static_cast<float>(p) / 255.0f - 0.5f) / 0.5f);
  }
  std::ofstream(dir / "image.pgm", std::ios::binary) << pgm;
  model.eval();
  std::vector<double> logits;
  {
    NoGradGuard no_grad;
    logits = model.forward(from_vector(x, {1, 784})).to(DType::Float64).contiguous().to_vector();
  }
  const int best = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  double sum = 0;
  for (double v : logits) sum += std::exp(v - logits[best]);
  char expected[128];
  std::snprintf(expected, sizeof expected, "%s (class %d), probability %.4f\n", io::fashion_class_name(best), best,
                1.0 / sum);

  const fs::path build = dir / "embed-build";
  CommandResult r = run("cmake -S " + q(kSource / "examples" / "embed") + " -B " + q(build) +
                    " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + q(prefix));
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  r = run("cmake --build " + q(build) + " -j2");
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  for (const char* model_file : {"fashion.pt", "checkpoint.pt"}) {
    r = run(q(build / "embed") + " " + q(dir / model_file) + " " + q(dir / "image.pgm"));
    ASSERT_EQ(r.rc, 0) << model_file << ": " << r.out;
    EXPECT_NE(r.out.find(expected), std::string::npos) << model_file << ": expected " << expected << "got "
                                                          << r.out;
  }
  EXPECT_NE(r.out.find("stripped the 'module.' prefix"), std::string::npos) << r.out;
}

}  // namespace

TEST(CMakeConsumer, FindPackageAfterInstall) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path prefix = tmp.path() / "prefix", build = tmp.path() / "build";
  CommandResult r = run("cmake --install " + q(kBinary) + " --prefix " + q(prefix));
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  EXPECT_TRUE(fs::exists(prefix / "include" / "torchless" / "core" / "tensor.h"));
  EXPECT_TRUE(fs::exists(prefix / "include" / "torchless" / "nn" / "linear.h"));
  const bool has_config = fs::exists(prefix / "lib" / "cmake" / "Torchless" / "TorchlessConfig.cmake") ||
                          fs::exists(prefix / "lib64" / "cmake" / "Torchless" / "TorchlessConfig.cmake");
  EXPECT_TRUE(has_config);

  r = run("cmake -S " + q(kConsumer) + " -B " + q(build) + " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" +
          q(prefix));
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  r = run("cmake --build " + q(build) + " -j2");
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  r = run(q(build / "consumer"));
  ASSERT_EQ(r.rc, 0) << r.out;
  expect_consumer_output(r.out);

  // The same install serves the embedding example.
  check_embed_example(prefix, tmp.path());
}

TEST(CMakeConsumer, AddSubdirectoryFromSource) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const fs::path build = tmp.path() / "build";
  CommandResult r = run("cmake -S " + q(kConsumer) + " -B " + q(build) +
                    // Debug: -O0 compiles the whole library about twice as fast; the
                    // point here is the CMake wiring, not speed.
                    " -DCMAKE_BUILD_TYPE=Debug -DTORCHLESS_SOURCE_DIR=" + q(kSource) +
                    " -DTORCHLESS_TESTS=OFF -DTORCHLESS_BENCH=OFF -DTORCHLESS_CUDA=OFF");
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  r = run("cmake --build " + q(build) + " -j4 --target consumer");
  ASSERT_EQ(r.rc, 0) << tail(r.out);
  r = run(q(build / "consumer"));
  ASSERT_EQ(r.rc, 0) << r.out;
  expect_consumer_output(r.out);
}
