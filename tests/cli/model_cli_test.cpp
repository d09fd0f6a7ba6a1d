// train / eval / predict --model SPEC, and torchless export, through the
// program: the README's CNN reaching 89% test accuracy in 3 epochs, a short
// run whose spec is recorded in the checkpoint, a whole-model file
// predicting what the checkpoint predicts, and the usage errors of bad
// specs.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/torch_load.h"
#include "support/test_util.h"

using namespace torchless::test;
namespace fs = std::filesystem;

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kData = "/usr/share/datasets/fashion-mnist";
const std::string kCnn =
    "Conv2d(1, 8, 3, padding=1) ReLU MaxPool2d(2) Conv2d(8, 16, 3, padding=1) ReLU MaxPool2d(2) Flatten "
    "Linear(784, 10)";

bool have_data() { return fs::exists(kData + "/train-images-idx3-ubyte.gz") && fs::exists(kData + "/t10k-images-idx3-ubyte.gz"); }

CommandResult cli(const std::string& args) { return run_command(quote(kCli) + " " + args + " 2>&1"); }

// The value of "key": in the last line (the JSON summary) of `out`.
double json_field(const std::string& out, const std::string& key) {
  const auto lines = lines_of(out);
  const std::string& last = lines.empty() ? out : lines.back();
  const size_t p = last.find("\"" + key + "\":");
  return p == std::string::npos ? -1 : std::atof(last.c_str() + p + key.size() + 3);
}

}  // namespace

TEST(ModelCli, TrainEvalPredictExportWithASpec) {
  if (!have_data()) GTEST_SKIP() << kData << " is missing";
  TempDir dir("torchless_model_cli_");
  const std::string ck = dir.file("ck");
  const CommandResult t = cli("train --model " + quote(kCnn) + " --epochs 1 --train-size 6000 --valid-size 1000 --threads 2 --checkpoint-dir " + quote(ck));
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_TRUE(contains(t.out, "Model: Conv2d(1, 8, (3, 3), padding=(1, 1)) ReLU MaxPool2d((2, 2))")) << t.out;
  const double acc = json_field(t.out, "test_accuracy");
  EXPECT_GT(acc, 0.70) << t.out;  // one epoch of 6000 images; 3 full epochs of a bigger CNN: bench/RESULTS.md
  const torchless::io::ValuePtr saved = torchless::io::load(ck + "/current_checkpoint.pt");
  EXPECT_EQ(saved->at("hparams")->at("model_spec")->as_str(), kCnn);
  EXPECT_TRUE(saved->at("state_dict")->get("0.weight"));

  // eval finds the architecture in the checkpoint's hparams, and gives the test accuracy train printed.
  const CommandResult e = cli("eval " + quote(ck + "/current_checkpoint.pt") + " --threads 2");
  ASSERT_EQ(e.rc, 0) << e.out;
  EXPECT_NEAR(json_field(e.out, "test_accuracy"), acc, 1e-9) << e.out;

  // A whole-model file predicts what the checkpoint predicts.
  const std::string images = kData + "/t10k-images-idx3-ubyte.gz";
  const CommandResult x = cli("export " + quote(ck + "/current_checkpoint.pt") + " " + quote(dir.file("whole.pt")) + " --freeze 0");
  ASSERT_EQ(x.rc, 0) << x.out;
  EXPECT_TRUE(contains(x.out, "(6 parameter tensor(s), 2 frozen, eval mode)")) << x.out;
  const CommandResult p1 = cli("predict " + quote(ck + "/current_checkpoint.pt") + " " + quote(images) + " --limit 20 --json");
  const CommandResult p2 = cli("predict " + quote(dir.file("whole.pt")) + " " + quote(images) + " --limit 20 --json");
  ASSERT_EQ(p1.rc, 0) << p1.out;
  ASSERT_EQ(p2.rc, 0) << p2.out;
  EXPECT_EQ(p1.out, p2.out);
  EXPECT_EQ(lines_of(p1.out).size(), 20u);
  const CommandResult e2 = cli("eval " + quote(dir.file("whole.pt")) + " --threads 2");
  EXPECT_NEAR(json_field(e2.out, "test_accuracy"), acc, 1e-9) << e2.out;

  // Resume: the spec and the frozen modules come from the checkpoint.
  const CommandResult r = cli("train --resume " + quote(ck + "/current_checkpoint.pt") +
                              " --epochs 2 --train-size 500 --valid-size 100 --threads 2 --freeze 0,3 --checkpoint-dir " + quote(ck));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "Frozen: 0,3")) << r.out;
  // A state_dict without a recorded spec needs --model; with the wrong one, the error says which.
  const CommandResult wrong = cli("eval " + quote(ck + "/current_checkpoint.pt") + " --model 'Flatten Linear(784, 10)'");
  EXPECT_EQ(wrong.rc, 1) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "missing key(s)") && contains(wrong.out, "(the model: Flatten Linear(784, 10))")) << wrong.out;
}

// The issue's bar, on the README's CNN as the README trains it (50,000
// training images, seed 0): >= 89% on t10k after 3 epochs. Runs ~20 s on
// 2 cores; the run's speed against PyTorch is in bench/RESULTS.md.
TEST(ModelCli, ReadmeCnnReaches89PercentIn3Epochs) {
#if defined(__SANITIZE_ADDRESS__)
  // ~590 s of sanitized training, at ctest's timeout; the Release build
  // asserts the bar, and TrainEvalPredictExportWithASpec runs the same
  // layers under the sanitizers.
  GTEST_SKIP() << "skipped under AddressSanitizer: 3 full epochs take ~10 minutes there";
#endif
  if (!have_data()) GTEST_SKIP() << kData << " is missing";
  const std::string readme_cnn =
      "Conv2d(1, 16, 3, padding=1) ReLU MaxPool2d(2) Conv2d(16, 32, 3, padding=1) ReLU MaxPool2d(2) Flatten "
      "Linear(1568, 128) ReLU Linear(128, 10)";
  const CommandResult t = cli("train --model " + quote(readme_cnn) + " --epochs 3 --threads 2 --no-checkpoints");
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_GE(json_field(t.out, "test_accuracy"), 0.89) << t.out;
  EXPECT_LT(json_field(t.out, "train_loss"), 0.30) << t.out;
}

TEST(ModelCli, BadSpecsAreUsageErrors) {
  const CommandResult a = cli("train --model 'Conv2d(1, 16) ReLU' --no-checkpoints");
  EXPECT_EQ(a.rc, 2) << a.out;
  EXPECT_TRUE(contains(a.out, "--model: model spec: column 1: Conv2d: missing argument 'kernel_size'")) << a.out;
  const CommandResult b = cli("train --model 'Linear(784, 10) Sigmoidd' --no-checkpoints");
  EXPECT_EQ(b.rc, 2);
  EXPECT_TRUE(contains(b.out, "unknown layer 'Sigmoidd'")) << b.out;
  const CommandResult c = cli("train --model 'Flatten Linear(784, 10)' --dropout 0.3 --no-checkpoints");
  EXPECT_EQ(c.rc, 2);
  EXPECT_TRUE(contains(c.out, "put Dropout(p) layers in the spec")) << c.out;
  const CommandResult d = cli("train --model 'Flatten Linear(784, 10)' --freeze 2 --no-checkpoints");
  EXPECT_EQ(d.rc, 2);
  EXPECT_TRUE(contains(d.out, "--freeze 2: the model has no module or parameter '2' (modules: 1)")) << d.out;
  const CommandResult e = cli("train --model @/nonexistent/spec.txt --no-checkpoints");
  EXPECT_EQ(e.rc, 2);
  EXPECT_TRUE(contains(e.out, "--model @/nonexistent/spec.txt")) << e.out;
  TempDir dir("torchless_model_cli_");
  write_file(dir.file("spec.txt"), "# a spec in a file\nFlatten\nLinear(784, 10)  # logits\n");
  const CommandResult f = cli("train --model @" + quote(dir.file("spec.txt")) + " --help");
  EXPECT_EQ(f.rc, 0) << f.out;
}
