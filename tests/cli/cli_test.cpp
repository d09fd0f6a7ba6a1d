// Runs the built `torchless` binary and checks its output and exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "core/autograd.h"
#include "core/cpu/sgemm_avx512.h"
#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/safetensors.h"
#include "io/torch_load.h"
#include "nn/fashion_classifier.h"
#include "nn/state_dict.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kData = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11";
const std::string kPython = TORCHLESS_PYTHON;

// stdout (and stderr when merged).
using Result = torchless::test::CommandResult;

// Runs `cmd` through the shell; with `merge` stderr goes to the same stream.
Result sh(const std::string& cmd, bool merge = false) { return run_command(cmd + (merge ? " 2>&1" : " 2>/dev/null")); }

Result cli(const std::string& args, bool merge = false) { return sh(quote(kCli) + " " + args, merge); }

// stderr only (stdout discarded).
Result cli_stderr(const std::string& args) { return run_command(quote(kCli) + " " + args + " 2>&1 >/dev/null"); }

bool dataset_installed() {
  return fs::exists(torchless::io::default_fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz");
}

// ---------------------------------------------------------------- info

TEST(Info, ReportsVersionBackendsKernelAndThreads) {
  const Result r = cli("info --threads 3", true);
  // info takes no flags: a bad one is a usage error, exit 2.
  EXPECT_EQ(r.rc, 2) << r.out;
  const Result ok = cli("info");
  ASSERT_EQ(ok.rc, 0) << ok.out;
  EXPECT_NE(ok.out.find("torchless "), std::string::npos) << ok.out;
  EXPECT_TRUE(ok.out.find("CUDA: yes") != std::string::npos || ok.out.find("CUDA: not built") != std::string::npos)
      << ok.out;
  EXPECT_NE(ok.out.find("SIMD: "), std::string::npos) << ok.out;
  // The kernel it names is the one the library was built with.
  const std::string kernel = torchless::cpu::have_sgemm_avx512() ? "float32 GEMM: AVX-512 (torchless)\n"
                                                                  : "float32 GEMM: Eigen\n";
  EXPECT_NE(ok.out.find(kernel), std::string::npos) << ok.out;
  EXPECT_TRUE(std::regex_search(ok.out, std::regex("CPU threads: [1-9][0-9]*\n"))) << ok.out;
}

// ---------------------------------------------------------------- inspect

TEST(CliInspect, TextShowsTreeTensorsAndTotals) {
  Result r = cli("inspect " + quote(kData + "/fashion_checkpoint.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'epoch': "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'state_dict': collections.OrderedDict (10 keys)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'fc1.weight': tensor float32 [512, 784] cpu  min "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'param_groups': list"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 40 tensors, "), std::string::npos) << r.out;
}

TEST(CliInspect, CudaCheckpointShowsSavedDevice) {
  Result r = cli("inspect " + quote(kData + "/fashion_checkpoint_cuda.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'fc1.weight': tensor float32 [512, 784] cuda:0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'valid_loss_min': inf"), std::string::npos) << r.out;
  // Adam keeps 'step' on the CPU and the moments on the GPU: each tensor shows its own storage's location.
  EXPECT_NE(r.out.find("'exp_avg': tensor float32 [512, 784] cuda:0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'step': tensor float32 [] cpu"), std::string::npos) << r.out;
}

TEST(CliInspect, ValuesOfManyKinds) {
  Result r = cli("inspect " + quote(kData + "/nested.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'none': None"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'big': 1180591620717411303424"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'tuple': tuple (3 items)"), std::string::npos) << r.out;
  r = cli("inspect " + quote(std::string(TORCHLESS_TEST_DATA) + "/torch-1.13/numpy_values.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'history': ndarray float64 [3]"), std::string::npos) << r.out;
  r = cli("inspect " + quote(kData + "/whole_module.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("object __main__.Net"), std::string::npos) << r.out;
  r = cli("inspect --safe " + quote(kData + "/whole_module.pt"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  r = cli("inspect " + quote(kData + "/legacy_state_dict.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("(legacy, 10 storages)"), std::string::npos) << r.out;
}

TEST(CliInspect, DepthLimitsExpansionNotTotals) {
  Result r = cli("inspect --depth 1 " + quote(kData + "/fashion_checkpoint.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.find("fc1.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 40 tensors, "), std::string::npos) << r.out;
}

TEST(CliInspect, JsonIsValid) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir dir;
  for (const std::string& f : {kData + "/fashion_checkpoint.pt", kData + "/fashion_checkpoint_cuda.pt",
                              kData + "/nested.pt", kData + "/dtypes.pt", kData + "/whole_module.pt",
                              kData + "/legacy_state_dict.pt",
                              std::string(TORCHLESS_TEST_DATA) + "/torch-1.13/numpy_values.pt"}) {
    Result r = cli("inspect --json " + quote(f) + " > " + quote(dir / "out.json"));
    ASSERT_EQ(r.rc, 0) << f;
    Result py = sh(quote(kPython) + " -c " +
                       quote("import json,sys; d=json.load(open(sys.argv[1])); print(d['format'], "
                             "d['totals']['tensors'])") +
                       " " + quote(dir / "out.json"),
                   true);
    EXPECT_EQ(py.rc, 0) << f << ": " << py.out << "\n" << read_file(dir / "out.json").substr(0, 2000);
  }
  // Runs Python `code` with the JSON document of `file` loaded as d.
  const auto query = [](const std::string& code, const std::string& file) {
    return sh(quote(kPython) + " -c " + quote("import json,sys; d=json.load(open(sys.argv[1])); " + code) + " " +
              quote(file))
        .out;
  };
  // Device as saved, in JSON too.
  Result r = cli("inspect --json " + quote(kData + "/fashion_checkpoint_cuda.pt") + " > " + quote(dir / "c.json"));
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(query("e=d['root']['entries']; sd=[x for x in e if x['key']=='state_dict'][0]['value']; "
                  "print(sd['entries'][0]['value']['device'], e[0]['key'])",
                  dir / "c.json"),
            "cuda:0 epoch\n");
  // The optimizer's state is keyed by int: its keys say so, str keys do not
  // (int 1 and str '1' would print alike).
  EXPECT_EQ(query("e=d['root']['entries']; "
                  "st=[x for x in e if x['key']=='optimizer'][0]['value']['entries'][0]['value']['entries'][0]; "
                  "print(st['key'], st.get('key_type'), e[0].get('key_type'))",
                  dir / "c.json"),
            "0 int None\n");
  // Strings are escaped (nested.pt holds non-ASCII text).
  r = cli("inspect --json " + quote(kData + "/nested.pt") + " > " + quote(dir / "n.json"));
  EXPECT_EQ(query("print([x for x in d['root']['entries'] if x['key']=='name'][0]['value']['value'] == "
                  "'densenet161 \\u00e9\\u4e2d')",
                  dir / "n.json"),
            "True\n");
}

// ---------------------------------------------------------------- convert

TEST(CliConvert, PtToPtLoadsTheSame) {
  TempDir dir;
  const std::string src = kData + "/fashion_checkpoint.pt";
  Result r = cli("convert " + quote(src) + " " + quote(dir / "out.pt"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto a = torchless::io::load(src);
  const auto b = torchless::io::load(dir / "out.pt");
  EXPECT_EQ(torchless::io::repr(a, 20), torchless::io::repr(b, 20));
  const auto sa = torchless::nn::state_dict_from_value(a->at("state_dict"));
  const auto sb = torchless::nn::state_dict_from_value(b->at("state_dict"));
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [k, t] : sa) EXPECT_EQ(t.to_vector(), sb.at(k).to_vector()) << k;

  if (!python_can_import("torch")) GTEST_SKIP() << "no torch for " << kPython;
  Result py = sh(quote(kPython) + " -c " +
                     quote("import sys, torch\n"
                           "a = torch.load(sys.argv[1], map_location='cpu')\n"
                           "b = torch.load(sys.argv[2], map_location='cpu')\n"
                           "def eq(x, y):\n"
                           "    if isinstance(x, torch.Tensor):\n"
                           "        return isinstance(y, torch.Tensor) and x.dtype == y.dtype and x.shape == y.shape and bool((x == y).all())\n"
                           "    if isinstance(x, dict):\n"
                           "        return list(x.keys()) == list(y.keys()) and all(eq(x[k], y[k]) for k in x)\n"
                           "    if isinstance(x, (list, tuple)):\n"
                           "        return len(x) == len(y) and all(eq(p, q) for p, q in zip(x, y))\n"
                           "    return x == y or (x != x and y != y)\n"
                           "print(eq(a, b))\n") +
                     " " + quote(src) + " " + quote(dir / "out.pt"),
                 true);
  EXPECT_EQ(py.out, "True\n") << py.out;
}

TEST(CliConvert, SafetensorsRoundTrip) {
  TempDir dir;
  const std::string src = kData + "/fashion_checkpoint_cuda.pt";
  // A whole training checkpoint is not a flat dict of tensors: the error names the key.
  Result r = cli("convert --map-location cpu " + quote(src) + " " + quote(dir / "w.safetensors"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("'epoch'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--key"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "w.safetensors"));

  r = cli("convert --map-location cpu --key state_dict " + quote(src) + " " + quote(dir / "w.safetensors"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  r = cli("convert " + quote(dir / "w.safetensors") + " " + quote(dir / "back.pt"), true);
  ASSERT_EQ(r.rc, 0) << r.out;

  torchless::io::LoadOptions cpu;
  cpu.map_location = torchless::io::MapLocation::parse("cpu");
  const auto orig = torchless::nn::state_dict_from_value(torchless::io::load(src, cpu)->at("state_dict"));
  const auto back = torchless::nn::state_dict_from_value(torchless::io::load(dir / "back.pt"));
  ASSERT_EQ(orig.size(), back.size());
  for (const auto& [k, t] : orig) {
    const torchless::Tensor& u = back.at(k);
    EXPECT_EQ(t.dtype(), u.dtype()) << k;
    EXPECT_EQ(t.sizes(), u.sizes()) << k;
    EXPECT_EQ(t.to_vector(), u.to_vector()) << k;
  }
  // inspect and verify read safetensors too.
  r = cli("inspect " + quote(dir / "w.safetensors"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("(safetensors)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'fc1.weight': tensor float32 [512, 784] cpu"), std::string::npos) << r.out;
  r = cli("verify " + quote(dir / "w.safetensors"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("OK: 10 records, 10 tensors, 2300200 bytes"), std::string::npos) << r.out;
}

TEST(CliConvert, LegacyInputAndBadExtension) {
  TempDir dir;
  Result r = cli("convert " + quote(kData + "/legacy_state_dict.pt") + " " + quote(dir / "z.pth"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(cli("inspect " + quote(dir / "z.pth")).out.find("(zip, 10 storages)"), std::string::npos);

  r = cli_stderr("convert " + quote(kData + "/nested.pt") + " " + quote(dir / "out.txt"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("usage: torchless convert"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.txt"));
  // A failed conversion leaves an existing OUT untouched.
  write_file(dir / "keep.safetensors", "old");
  r = cli("convert " + quote(kData + "/nested.pt") + " " + quote(dir / "keep.safetensors"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(read_file(dir / "keep.safetensors"), "old");
}

// ---------------------------------------------------------------- verify

TEST(CliVerify, FixturesAreOk) {
  for (const char* f : {"fashion_checkpoint.pt", "fashion_checkpoint_cuda.pt", "nested.pt", "dtypes.pt",
                              "views.pt", "legacy_state_dict.pt", "protocol4.pt"}) {
    Result r = cli("verify " + quote(kData + "/" + std::string(f)));
    EXPECT_EQ(r.rc, 0) << f << ": " << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex("OK: \\d+ records, \\d+ tensors, \\d+ bytes"))) << r.out;
    EXPECT_NE(r.out.find("weights_only: safe"), std::string::npos) << f << ": " << r.out;
  }
  Result r = cli("verify " + quote(kData + "/fashion_checkpoint.pt"));
  EXPECT_NE(r.out.find("OK: 46 records, 40 tensors, 6900640 bytes"), std::string::npos) << r.out;
  r = cli("verify " + quote(kData + "/whole_module.pt"), true);
  EXPECT_EQ(r.rc, 3) << r.out;  // intact, but torch.load would import classes
  EXPECT_NE(r.out.find("weights_only: NOT safe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("__main__.Net"), std::string::npos) << r.out;
}

TEST(CliVerify, DamagedFilesFail) {
  TempDir dir;
  const std::string bytes = read_file(kData + "/fashion_checkpoint.pt");
  write_file(dir / "trunc.pt", bytes.substr(0, bytes.size() / 2));
  Result r = cli("verify " + quote(dir / "trunc.pt"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trunc.pt"), std::string::npos) << r.out;

  // Flip one byte in the middle of the largest record (fc1.weight's storage).
  std::string flipped = bytes;
  flipped[flipped.size() / 3] ^= 0x5a;
  write_file(dir / "flip.pt", flipped);
  r = cli("verify " + quote(dir / "flip.pt"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("CRC-32 mismatch in record 'fashion_checkpoint/data/"), std::string::npos) << r.out;

  write_file(dir / "notes.txt", "just some text\n");
  r = cli("verify " + quote(dir / "notes.txt"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("not a torch checkpoint"), std::string::npos) << r.out;

  r = cli("verify " + quote(dir / "missing.pt"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
}

// ---------------------------------------------------------------- eval / predict

TEST(CliEval, TrainedCheckpoint) {
  if (!dataset_installed()) GTEST_SKIP() << "Fashion-MNIST not installed";
  Result r = cli("eval --threads 2 " + quote(kData + "/fashion_checkpoint.pt"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("Ankle boot"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\\{\"test_accuracy\":([0-9.]+),\"test_loss\":([0-9.e+-]+),"
                                                     "\"per_class\":\\{.*\\}\\}\n$")))
      << r.out;
  const double acc = std::stod(m[1]);
  EXPECT_GT(acc, 0.5);
  EXPECT_LE(acc, 1.0);
  EXPECT_GT(std::stod(m[2]), 0.0);
}

TEST(CliEval, BadInputs) {
  Result r = cli_stderr("eval");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("usage: torchless eval"), std::string::npos) << r.out;
  r = cli("eval " + quote(kData + "/dtypes.pt") + " --data /nonexistent", true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("torchless eval: error:"), std::string::npos) << r.out;
}

TEST(CliPredict, PgmMatchesModelArgmax) {
  if (!dataset_installed()) GTEST_SKIP() << "Fashion-MNIST not installed";
  using namespace torchless;
  const io::IdxArray images = io::read_idx(io::default_fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz");
  ASSERT_EQ(images.dims.size(), 3u);
  TempDir dir;
  const std::string ckpt = kData + "/fashion_checkpoint.pt";

  nn::FashionClassifier model(0.0);
  model.load_state_dict(nn::state_dict_from_value(io::load(ckpt)->at("state_dict")));
  model.eval();
  for (int idx : {0, 1, 2, 17}) {
    const uint8_t* px = images.data.data() + static_cast<size_t>(idx) * 784;
    // P5 and P2 copies of the image.
    std::string p5 = "P5\n# test image\n28 28\n255\n" + std::string(reinterpret_cast<const char*>(px), 784);
    std::string p2 = "P2\n28 28\n255\n";
    for (int k = 0; k < 784; ++k) p2 += std::to_string(px[k]) + (k % 28 == 27 ? "\n" : " ");
    write_file(dir / "img.pgm", p5);
    write_file(dir / "img2.pgm", p2);

    std::vector<float> x(784);
    for (int k = 0; k < 784; ++k) x[k] = (static_cast<float>(px[k]) / 255.0f - 0.5f) / 0.5f;
    Tensor logits;
    {
      NoGradGuard ng;
      logits = model.forward(from_vector(x, {1, 784}));
    }
    const std::vector<double> l = logits.to_vector();
    const int best = static_cast<int>(std::max_element(l.begin(), l.end()) - l.begin());

    Result r = cli("predict " + quote(ckpt) + " " + quote(dir / "img.pgm") + " " + quote(dir / "img2.pgm") +
                       " --top 2",
                   true);
    ASSERT_EQ(r.rc, 0) << r.out;
    const std::string expect = std::string(": ") + io::fashion_class_name(best) + " (class " + std::to_string(best) + ")";
    EXPECT_NE(r.out.find("img.pgm" + expect), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("img2.pgm" + expect), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-2:"), std::string::npos) << r.out;
  }
  // idx input: every image, capped with --limit.
  Result r = cli("predict " + quote(ckpt) + " " +
                     quote(io::default_fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz") + " --limit 5 --top 1",
                 true);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("t10k-images-idx3-ubyte.gz[4]: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[5]"), std::string::npos) << r.out;
}

TEST(CliPredict, WrongSizeNamesTheFile) {
  TempDir dir;
  write_file(dir / "small.pgm", "P2\n2 2\n255\n0 1 2 3\n");
  Result r = cli("predict " + quote(kData + "/fashion_checkpoint.pt") + " " + quote(dir / "small.pgm"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("small.pgm: image is 2x2"), std::string::npos) << r.out;
  write_file(dir / "deep.pgm", "P2\n28 28\n65535\n0\n");
  r = cli("predict " + quote(kData + "/fashion_checkpoint.pt") + " " + quote(dir / "deep.pgm"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("deep.pgm: PGM: maxval 65535"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- plot

TEST(CliPlot, WritesValidSvg) {
  TempDir dir;
  write_file(dir / "m.csv",
             "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s\n"
             "1,0.62,0.45,0.84,51000\n2,0.41,nan,0.86,52000\n3,0.37,0.39,inf,52000\n4,0.34,0.35,0.88,52000\n");
  Result r = cli("plot " + quote(dir / "m.csv") + " " + quote(dir / "m.svg"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string svg = read_file(dir / "m.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("valid accuracy"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // One row works too.
  write_file(dir / "one.csv", "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s\n1,0.5,0.4,0.8,1000\n");
  r = cli("plot " + quote(dir / "one.csv") + " " + quote(dir / "one.svg"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  if (have_python()) {
    for (const char* f : {"m.svg", "one.svg"}) {
      Result py = sh(quote(kPython) + " -c " +
                         quote("import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); "
                               "print(r.tag, len(r.findall('.//{http://www.w3.org/2000/svg}polyline')))") +
                         " " + quote(dir / f),
                     true);
      EXPECT_EQ(py.rc, 0) << py.out;
      EXPECT_EQ(py.out.rfind("{http://www.w3.org/2000/svg}svg", 0), 0u) << py.out;
    }
  }
}

TEST(CliPlot, ResumedRunSupersedesTheAbandonedEpochs) {
  // Epochs 1-5, then a run resumed from epoch 3's checkpoint wrote 4-6: the
  // plot follows 1, 2, 3 and the new 4, 5, 6 (not 5 -> 4 back in time).
  TempDir dir;
  write_file(dir / "m.csv",
             "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s\n"
             "1,0.9,0.8,0.70,1\n2,0.8,0.7,0.75,1\n3,0.7,0.6,0.80,1\n4,0.111,0.5,0.81,1\n5,0.222,0.5,0.82,1\n"
             "4,0.6,0.5,0.83,1\n5,0.5,0.45,0.84,1\n6,0.4,0.4,0.85,1\n");
  Result r = cli("plot " + quote(dir / "m.csv") + " " + quote(dir / "m.svg"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("(6 epochs; 2 earlier rows superseded by a run resumed from an older checkpoint)"),
            std::string::npos)
      << r.out;
  // The train-loss line: 6 points, x increasing.
  const std::string svg = read_file(dir / "m.svg");
  const size_t at = svg.find("points=\"");
  ASSERT_NE(at, std::string::npos) << svg;
  std::istringstream pts(svg.substr(at + 8, svg.find('"', at + 8) - at - 8));
  std::vector<double> xs;
  for (std::string p; pts >> p;) xs.push_back(std::stod(p.substr(0, p.find(','))));
  ASSERT_EQ(xs.size(), 6u) << svg.substr(at, 200);
  for (size_t i = 1; i < xs.size(); ++i) EXPECT_GT(xs[i], xs[i - 1]) << "point " << i;
  // The file itself is left as it was.
  EXPECT_NE(read_file(dir / "m.csv").find("4,0.111,"), std::string::npos);
}

TEST(CliPlot, MissingColumnIsAnError) {
  TempDir dir;
  write_file(dir / "bad.csv", "epoch,train_loss,valid_accuracy\n1,0.5,0.8\n");
  write_file(dir / "out.svg", "old");
  Result r = cli("plot " + quote(dir / "bad.csv") + " " + quote(dir / "out.svg"), true);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("missing column 'valid_loss'"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(dir / "out.svg"), "old");
}

// ---------------------------------------------------------------- usage

TEST(CliUsage, BadFlagsExitTwoWithUsage) {
  for (const char* a : {"inspect --bogus x.pt", "convert a.pt", "verify", "eval --threads zero x.pt",
                                 "predict x.pt --top 0 a.pgm", "plot only.csv", "inspect --depth"}) {
    const std::string args = a;
    Result r = cli_stderr(args);
    EXPECT_EQ(r.rc, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("usage: torchless "), std::string::npos) << args << ": " << r.out;
  }
  Result r = cli("--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* c : {"inspect", "convert", "verify", "eval", "predict", "plot"})
    EXPECT_NE(r.out.find(std::string("  ") + c + " "), std::string::npos) << c << "\n" << r.out;
  r = cli("inspect --help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("usage: torchless inspect FILE"), std::string::npos);
}

}  // namespace
