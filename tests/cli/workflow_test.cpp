// The whole training workflow through the `torchless` binary, on a reduced
// Fashion-MNIST: checkpoints, losing the session and resuming (bit-identical
// to an uninterrupted run), the best model, freezing across a resume, --init
// with mismatched or 'module.'-prefixed state_dicts, PyTorch reading and
// resuming torchless's checkpoints (and the reverse), eval, and a failed save
// that leaves the previous checkpoint untouched.
//
// Every run uses one thread, so runs are deterministic and comparable bit for bit.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/generator.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "nn/fashion_classifier.h"
#include "nn/state_dict.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using torchless::io::Value;
using torchless::io::ValuePtr;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kPython = TORCHLESS_PYTHON;
const std::string kScript = std::string(TORCHLESS_SOURCE_DIR) + "/examples/python_resume.py";
const std::string kData = "/usr/share/datasets/fashion-mnist";

// Small and fast: ~0.2 s per epoch on one core. lr 0.01 makes the validation
// loss go up and down, so the best epoch is not simply the last one.
const std::string kSmall = "--data " + kData +
                           " --train-size 3000 --valid-size 1000 --threads 1 --batch-size 64 --lr 0.01 --seed 0";

bool have_data() {
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    if (!fs::exists(kData + "/" + f)) return false;
  return true;
}
#define REQUIRE_DATA() \
  if (!have_data()) GTEST_SKIP() << kData << " is missing (Debian package dataset-fashion-mnist)"

struct Result {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr (progress bars, error messages)
  std::string all() const { return out + "\n--- stderr ---\n" + err; }
};

Result sh(const std::string& cmd) {
  static int counter = 0;
  const std::string err_path = (fs::temp_directory_path() / ("torchless_wf_err_" + std::to_string(getpid()) + "_" +
                                                              std::to_string(counter++)))
                                   .string();
  const torchless::test::CommandResult c = run_command(cmd + " 2>" + quote(err_path));
  Result r;
  r.rc = c.rc;
  r.out = c.out;
  r.err = read_file(err_path);
  std::remove(err_path.c_str());
  return r;
}

Result cli(const std::string& args) { return sh(quote(kCli) + " " + args); }
Result train(const std::string& args) { return cli("train " + kSmall + " " + args); }

ValuePtr load(const std::string& path) { return torchless::io::load(path); }

// Two value trees are equal: same kinds, keys, scalars and tensors' dtype,
// shape and bytes. Floats compare bitwise.
void expect_same(const ValuePtr& a, const ValuePtr& b, const std::string& where) {
  ASSERT_TRUE(a && b) << where;
  ASSERT_EQ(static_cast<int>(a->kind), static_cast<int>(b->kind)) << where;
  switch (a->kind) {
    case Value::Kind::Bool: EXPECT_EQ(a->b, b->b) << where; break;
    case Value::Kind::Int: EXPECT_EQ(a->i, b->i) << where; break;
    case Value::Kind::Float:
      EXPECT_EQ(std::memcmp(&a->f, &b->f, sizeof(double)), 0) << where << ": " << a->f << " vs " << b->f;
      break;
    case Value::Kind::Str: case Value::Kind::Bytes: case Value::Kind::BigInt: EXPECT_EQ(a->s, b->s) << where; break;
    case Value::Kind::List: case Value::Kind::Tuple:
      ASSERT_EQ(a->items.size(), b->items.size()) << where;
      for (size_t i = 0; i < a->items.size(); ++i) expect_same(a->items[i], b->items[i], where + "[" + std::to_string(i) + "]");
      break;
    case Value::Kind::Dict:
      ASSERT_EQ(a->entries.size(), b->entries.size()) << where;
      for (size_t i = 0; i < a->entries.size(); ++i) {
        const ValuePtr& k = a->entries[i].first;  // str, or int (Adam's 'state' is keyed by index)
        const std::string name = k->kind == Value::Kind::Str ? k->s : std::to_string(k->i);
        expect_same(k, b->entries[i].first, where + " key " + name);
        expect_same(a->entries[i].second, b->entries[i].second, where + "." + name);
      }
      break;
    case Value::Kind::Tensor:
      EXPECT_EQ(a->tensor.dtype(), b->tensor.dtype()) << where;
      EXPECT_EQ(a->tensor.sizes(), b->tensor.sizes()) << where;
      EXPECT_TRUE(tensor_bytes(a->tensor) == tensor_bytes(b->tensor)) << where << ": tensor bytes differ";
      break;
    default: break;
  }
}

// "Epoch 3/4  train loss ..  valid loss ..  valid accuracy .." -> {3: "train loss .. accuracy .."}
std::map<int, std::string> epoch_lines(const std::string& out) {
  static const std::regex re(R"(Epoch (\d+)/\d+  (train loss \S+  valid loss \S+  valid accuracy \S+))");
  std::map<int, std::string> m;
  for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it)
    m[std::stoi((*it)[1].str())] = (*it)[2].str();
  return m;
}

struct MetricsRow {
  int epoch;
  double train_loss, valid_loss, valid_accuracy;
  std::string losses;  // the first four columns as written
};
std::vector<MetricsRow> read_metrics(const std::string& path) {
  std::vector<MetricsRow> rows;
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "epoch,train_loss,valid_loss,valid_accuracy,samples_per_s") << path;
  while (std::getline(in, line)) {
    MetricsRow r{};
    if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf", &r.epoch, &r.train_loss, &r.valid_loss, &r.valid_accuracy) != 4)
      ADD_FAILURE() << path << ": bad row '" << line << "'";
    r.losses = line.substr(0, line.rfind(','));
    rows.push_back(r);
  }
  return rows;
}

torchless::nn::StateDict state_dict_of(const ValuePtr& ck) {
  return torchless::nn::state_dict_from_value(ck->is_dict() && ck->get("state_dict") ? ck->at("state_dict") : ck);
}

void expect_same_tensor(const torchless::nn::StateDict& a, const torchless::nn::StateDict& b, const std::string& key,
                        bool same, const std::string& what) {
  ASSERT_TRUE(a.contains(key) && b.contains(key)) << key;
  EXPECT_EQ(tensor_bytes(a.at(key)) == tensor_bytes(b.at(key)), same) << what << ": " << key;
}

// A FashionClassifier's state_dict with seeded weights, keys renamed by `rename`.
ValuePtr fresh_state_dict(uint64_t seed, const std::function<std::string(const std::string&)>& rename) {
  torchless::Generator gen(seed);
  torchless::nn::FashionClassifier m(0.2, &gen);
  torchless::nn::StateDict sd;
  for (const auto& [k, t] : m.state_dict()) {
    const std::string nk = rename(k);
    if (!nk.empty()) sd.insert(nk, t);
  }
  return torchless::nn::to_value(sd);
}

}  // namespace

// (i) resume == uninterrupted, (ii) best model, (vi) eval, (vii) failed save.
TEST(Workflow, ResumeBestModelEvalAndCrashSafety) {
  REQUIRE_DATA();
  TempDir tmp;
  const std::string A = tmp / "a", B = tmp / "b";

  // A: two epochs, then the session is "lost"; a new process resumes to epoch 4.
  Result a1 = train("--epochs 2 --checkpoint-dir " + A + " --metrics " + A + "/metrics.csv");
  ASSERT_EQ(a1.rc, 0) << a1.all();
  fs::copy_file(A + "/current_checkpoint.pt", tmp / "a_epoch2.pt");
  Result a2 = train("--resume " + A + "/current_checkpoint.pt --epochs 4 --checkpoint-dir " + A + " --metrics " + A +
                    "/metrics.csv");
  ASSERT_EQ(a2.rc, 0) << a2.all();
  EXPECT_NE(a2.out.find("epoch 2 done"), std::string::npos) << a2.out;
  EXPECT_NE(a2.out.find("training epochs 3..4"), std::string::npos) << a2.out;
  // B: the same four epochs in one go.
  Result b = train("--epochs 4 --checkpoint-dir " + B + " --metrics " + B + "/metrics.csv");
  ASSERT_EQ(b.rc, 0) << b.all();

  // (i) The printed per-epoch losses match exactly...
  std::map<int, std::string> ea = epoch_lines(a1.out), ea2 = epoch_lines(a2.out), eb = epoch_lines(b.out);
  EXPECT_EQ(ea.size(), 2u) << a1.out;
  ea.insert(ea2.begin(), ea2.end());
  ASSERT_EQ(eb.size(), 4u) << b.out;
  EXPECT_EQ(ea, eb);
  // ...so do the metrics rows (the resumed run appended to the same CSV)...
  const std::vector<MetricsRow> ma = read_metrics(A + "/metrics.csv"), mb = read_metrics(B + "/metrics.csv");
  ASSERT_EQ(ma.size(), 4u);
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ma[i].losses, mb[i].losses) << "row " << i;
  // ...and the final checkpoints are bit-identical: weights, Adam state, rng state, everything.
  const ValuePtr cka = load(A + "/current_checkpoint.pt"), ckb = load(B + "/current_checkpoint.pt");
  ASSERT_TRUE(ckb->get("optimizer") && ckb->get("rng_state"));
  expect_same(cka->at("state_dict"), ckb->at("state_dict"), "state_dict");
  expect_same(cka->at("optimizer"), ckb->at("optimizer"), "optimizer");
  expect_same(cka, ckb, "checkpoint");
  EXPECT_EQ(ckb->at("epoch")->as_int(), 4);
  EXPECT_EQ(ckb->at("rng_state")->tensor.dtype(), torchless::DType::UInt8);

  // (ii) best_model.pt is the last epoch with the lowest validation loss
  // (torchless saves on <=, like the tutorial).
  const auto best_row = std::min_element(mb.rbegin(), mb.rend(), [](const MetricsRow& x, const MetricsRow& y) {
    return x.valid_loss < y.valid_loss;
  });
  const int best_epoch = best_row->epoch;
  const ValuePtr best = load(B + "/best_model.pt");
  EXPECT_EQ(best->at("epoch")->as_int(), best_epoch);
  EXPECT_NEAR(best->at("valid_loss_min")->as_number(), best_row->valid_loss, 1e-6);
  EXPECT_NEAR(ckb->at("valid_loss_min")->as_number(), best_row->valid_loss, 1e-6);
  // Its weights are those of the run's checkpoint at that epoch.
  std::string at_best;
  if (best_epoch == 4) {
    at_best = B + "/current_checkpoint.pt";
  } else if (best_epoch == 2) {
    at_best = tmp / "a_epoch2.pt";
  } else {
    Result r = train("--epochs " + std::to_string(best_epoch) + " --checkpoint-dir " + (tmp / "r"));
    ASSERT_EQ(r.rc, 0) << r.all();
    at_best = tmp / "r/current_checkpoint.pt";
  }
  if (best_epoch == 4) std::printf("note: validation loss fell every epoch; best_model.pt == current_checkpoint.pt\n");
  const ValuePtr ref = load(at_best);
  expect_same(best->at("state_dict"), ref->at("state_dict"), "best_model state_dict");
  expect_same(best->at("optimizer"), ref->at("optimizer"), "best_model optimizer");
  EXPECT_EQ(ref->at("epoch")->as_int(), best_epoch);

  // (vi) eval on best_model.pt: accuracy and a 10x10 confusion matrix over the 10,000 test images.
  Result ev = cli("eval " + quote(B + "/best_model.pt") + " --threads 1 --data " + kData);
  ASSERT_EQ(ev.rc, 0) << ev.all();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ev.out, m, std::regex(R"(test accuracy (0\.\d+))"))) << ev.out;
  EXPECT_GT(std::stod(m[1].str()), 0.5);
  const size_t cm = ev.out.find("confusion matrix");
  ASSERT_NE(cm, std::string::npos) << ev.out;
  std::istringstream rows(ev.out.substr(cm));
  std::string line;
  std::getline(rows, line);  // title
  std::getline(rows, line);  // column numbers
  long long total = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(std::getline(rows, line));
    std::istringstream cells(line);
    int label = -1;
    cells >> label;
    EXPECT_EQ(label, i) << line;
    int count = 0;
    for (long long v; cells >> v; ++count) total += v;
    EXPECT_EQ(count, 10) << line;
  }
  EXPECT_EQ(total, 10000);

  // (vii) A save that fails (the checkpoint's folder cannot be written) fails
  // the run with a clear error, and the previous checkpoint keeps its bytes.
  const std::string before = read_file(B + "/current_checkpoint.pt");
  const std::string best_before = read_file(B + "/best_model.pt");
  Result bad;
  if (geteuid() != 0) {
    fs::permissions(B, fs::perms::owner_read | fs::perms::owner_exec);  // r-x: no new files, no renames
    bad = train("--resume " + B + "/current_checkpoint.pt --epochs 5 --train-size 500 --checkpoint-dir " + B);
    fs::permissions(B, fs::perms::owner_all);
  } else {
    // root ignores permissions: make the save's folder a regular file instead.
    std::ofstream(tmp / "not_a_dir") << "x";
    bad = train("--resume " + B + "/current_checkpoint.pt --epochs 5 --train-size 500 --checkpoint-dir " + B +
                " --checkpoint " + (tmp / "not_a_dir/current_checkpoint.pt"));
  }
  EXPECT_EQ(bad.rc, 1) << bad.all();
  EXPECT_NE(bad.err.find("cannot save the checkpoint"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("current_checkpoint.pt"), std::string::npos) << bad.err;  // names the file
  EXPECT_NE(bad.err.find("unchanged"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out.find("Epoch 5/5"), std::string::npos) << "the run trained before finding it cannot save";
  EXPECT_TRUE(read_file(B + "/current_checkpoint.pt") == before) << "the previous checkpoint changed";
  EXPECT_TRUE(read_file(B + "/best_model.pt") == best_before) << "best_model.pt changed";
  for (const auto& e : fs::directory_iterator(B))
    EXPECT_TRUE(e.path().filename() == "current_checkpoint.pt" || e.path().filename() == "best_model.pt" ||
                e.path().filename() == "metrics.csv")
        << "left behind: " << e.path();
  // ...and it still resumes.
  Result again = train("--resume " + B + "/current_checkpoint.pt --epochs 5 --train-size 500 --no-checkpoints");
  EXPECT_EQ(again.rc, 0) << again.all();
}

// (iii) --freeze fc1 keeps fc1 at its initial weights, also across a resume
// that does not pass --freeze again (the checkpoint's hparams carry it).
TEST(Workflow, FreezeSurvivesResume) {
  REQUIRE_DATA();
  TempDir tmp;
  const std::string init = tmp / "init.pt", D = tmp / "f";
  torchless::io::save(fresh_state_dict(7, [](const std::string& k) { return k; }), init);
  Result r1 = train("--init " + init + " --freeze fc1 --epochs 1 --train-size 1000 --checkpoint-dir " + D);
  ASSERT_EQ(r1.rc, 0) << r1.all();
  EXPECT_NE(r1.out.find("Frozen: fc1"), std::string::npos) << r1.out;
  const auto sd0 = state_dict_of(load(init));
  const ValuePtr ck1 = load(D + "/current_checkpoint.pt");
  const auto sd1 = state_dict_of(ck1);
  expect_same_tensor(sd0, sd1, "fc1.weight", true, "frozen after epoch 1");
  expect_same_tensor(sd0, sd1, "fc1.bias", true, "frozen after epoch 1");
  expect_same_tensor(sd0, sd1, "fc2.weight", false, "trained in epoch 1");
  const ValuePtr frozen = ck1->at("hparams")->at("frozen");
  ASSERT_EQ(frozen->items.size(), 1u);
  EXPECT_EQ(frozen->items[0]->as_str(), "fc1");

  Result r2 = train("--resume " + D + "/current_checkpoint.pt --epochs 3 --train-size 1000 --checkpoint-dir " + D);
  ASSERT_EQ(r2.rc, 0) << r2.all();
  EXPECT_NE(r2.out.find("Frozen: fc1"), std::string::npos) << r2.out;
  const ValuePtr ck3 = load(D + "/current_checkpoint.pt");
  EXPECT_EQ(ck3->at("epoch")->as_int(), 3);
  const auto sd3 = state_dict_of(ck3);
  expect_same_tensor(sd0, sd3, "fc1.weight", true, "frozen after the resume");
  expect_same_tensor(sd0, sd3, "fc1.bias", true, "frozen after the resume");
  expect_same_tensor(sd1, sd3, "fc2.weight", false, "trained after the resume");
  expect_same_tensor(sd1, sd3, "fc5.bias", false, "trained after the resume");
}

// (iv) --init with keys that do not match; 'module.'-prefixed state_dicts.
TEST(Workflow, InitStrictNonStrictAndModulePrefix) {
  REQUIRE_DATA();
  TempDir tmp;
  // fc5 renamed to head: fc5.* missing, head.* unexpected.
  const std::string renamed = tmp / "renamed.pt";
  torchless::io::save(fresh_state_dict(3, [](const std::string& k) {
                        return k.rfind("fc5.", 0) == 0 ? "head." + k.substr(4) : k;
                      }),
                      renamed);
  Result strict = train("--init " + renamed + " --epochs 0 --no-checkpoints");
  EXPECT_EQ(strict.rc, 1) << strict.all();
  for (const char* key : {"fc5.weight", "fc5.bias", "head.weight", "head.bias", "--non-strict"})
    EXPECT_NE(strict.err.find(key), std::string::npos) << key << " not in: " << strict.err;

  // Non-strict: fc1..fc4 load (checked through a frozen fc1), the rest is reported.
  const std::string D = tmp / "ns";
  Result loose = train("--init " + renamed + " --non-strict --freeze fc1 --epochs 1 --train-size 300 --checkpoint-dir " + D);
  ASSERT_EQ(loose.rc, 0) << loose.all();
  EXPECT_NE(loose.out.find("loaded 8 tensor(s)"), std::string::npos) << loose.out;
  EXPECT_NE(loose.out.find("missing keys: fc5.weight,fc5.bias"), std::string::npos) << loose.out;
  EXPECT_NE(loose.out.find("unexpected keys: head.weight,head.bias"), std::string::npos) << loose.out;
  const auto src = state_dict_of(load(renamed)), got = state_dict_of(load(D + "/current_checkpoint.pt"));
  expect_same_tensor(src, got, "fc1.weight", true, "loaded by --non-strict and frozen");

  // A DataParallel-style state_dict: every key under 'module.'.
  const std::string wrapped = tmp / "wrapped.pt", P = tmp / "p";
  torchless::io::save(fresh_state_dict(5, [](const std::string& k) { return "module." + k; }), wrapped);
  Result pre = train("--init " + wrapped + " --freeze fc1 --epochs 1 --train-size 300 --checkpoint-dir " + P);
  ASSERT_EQ(pre.rc, 0) << pre.all();
  EXPECT_NE(pre.out.find("stripped the 'module.' prefix"), std::string::npos) << pre.out;
  EXPECT_NE(pre.out.find("loaded 10 tensor(s)"), std::string::npos) << pre.out;
  const auto wsd = state_dict_of(load(wrapped)), psd = state_dict_of(load(P + "/current_checkpoint.pt"));
  ASSERT_TRUE(wsd.contains("module.fc1.weight"));
  EXPECT_TRUE(tensor_bytes(wsd.at("module.fc1.weight")) == tensor_bytes(psd.at("fc1.weight")));
}

// (v) PyTorch reads torchless's checkpoints and resumes them; torchless
// resumes a checkpoint PyTorch wrote.
TEST(Workflow, PythonInterop) {
  REQUIRE_DATA();
  if (!python_has_torch()) GTEST_SKIP() << kPython << " cannot import torch and numpy";
  TempDir tmp;
  const std::string D = tmp / "t";
  Result t = train("--epochs 2 --train-size 1000 --checkpoint-dir " + D);
  ASSERT_EQ(t.rc, 0) << t.all();

  // Both files load in PyTorch, safely where torch has weights_only by default (>= 2.0).
  const std::string check = R"(
import sys, torch
safe = int(torch.__version__.split('.')[0]) >= 2
if not safe:
    print('note: torch', torch.__version__, '< 2.0: plain torch.load')
for path in sys.argv[1:]:
    ck = torch.load(path, map_location='cpu', weights_only=True) if safe else torch.load(path, map_location='cpu')
    assert {'epoch', 'valid_loss_min', 'state_dict', 'optimizer', 'rng_state', 'hparams'} <= set(ck), sorted(ck)
    assert ck['rng_state'].dtype == torch.uint8, ck['rng_state'].dtype
    assert list(ck['state_dict'])[:2] == ['fc1.weight', 'fc1.bias'], list(ck['state_dict'])
    assert ck['state_dict']['fc1.weight'].shape == (512, 784)
    assert len(ck['optimizer']['state']) == 10, ck['optimizer'].keys()
    print('OK', path, ck['epoch'], float(ck['state_dict']['fc5.bias'].double().sum()))
)";
  std::ofstream(tmp / "check.py") << check;
  Result py = sh(quote(kPython) + " " + quote(tmp / "check.py") + " " + D + "/current_checkpoint.pt " + D +
                 "/best_model.pt");
  ASSERT_EQ(py.rc, 0) << py.all();
  EXPECT_NE(py.out.find("OK " + D + "/current_checkpoint.pt 2 "), std::string::npos) << py.out;
  EXPECT_NE(py.out.find("OK " + D + "/best_model.pt "), std::string::npos) << py.out;

  // python_resume.py --from-torchless resumes each for a few steps and saves
  // a tutorial checkpoint that torchless reads back.
  const std::string py_args = " --steps 5 --train-size 1000 --valid-size 500 --threads 1 --data " + kData;
  for (const std::string name : {"current_checkpoint.pt", "best_model.pt"}) {
    const std::string out = tmp / ("py_" + name);
    Result r = sh(quote(kPython) + " " + quote(kScript) + " --from-torchless " + D + "/" + name + " --out " + out + py_args);
    ASSERT_EQ(r.rc, 0) << name << ": " << r.all();
    const ValuePtr src = load(D + "/" + name), ck = load(out);
    EXPECT_EQ(ck->at("epoch")->as_int(), src->at("epoch")->as_int() + 1);
    EXPECT_EQ(ck->keys(), (std::vector<std::string>{"epoch", "valid_loss_min", "state_dict", "optimizer"}));
  }

  // The reverse: PyTorch trains from scratch, torchless resumes at epoch + 1.
  const std::string pyck = tmp / "from_python.pt";
  Result p = sh(quote(kPython) + " " + quote(kScript) + " --train-and-save " + pyck +
                " --steps 40 --train-size 3000 --valid-size 1000 --threads 1 --data " + kData);
  ASSERT_EQ(p.rc, 0) << p.all();
  const ValuePtr pck = load(pyck);
  const int64_t pe = pck->at("epoch")->as_int();
  const double py_valid = pck->at("valid_loss_min")->as_number();
  Result r = cli("train --data " + kData + " --train-size 3000 --valid-size 1000 --threads 1 --resume " + pyck +
                 " --epochs " + std::to_string(pe + 2) + " --checkpoint-dir " + (tmp / "resumed"));
  ASSERT_EQ(r.rc, 0) << r.all();
  EXPECT_NE(r.out.find("epoch " + std::to_string(pe) + " done"), std::string::npos) << r.out;
  const std::map<int, std::string> ep = epoch_lines(r.out);
  ASSERT_EQ(ep.size(), 2u) << r.out;
  ASSERT_EQ(ep.begin()->first, pe + 1);
  double tl[2], vl[2];
  int i = 0;
  for (const auto& [e, s] : ep) {
    ASSERT_EQ(std::sscanf(s.c_str(), "train loss %lf  valid loss %lf", &tl[i], &vl[i]), 2) << s;
    ++i;
  }
  EXPECT_LT(vl[0], py_valid) << "validation loss after the first torchless epoch vs PyTorch's";
  EXPECT_LT(tl[1], tl[0]) << "training loss keeps falling";
  EXPECT_EQ(load(tmp / "resumed/current_checkpoint.pt")->at("epoch")->as_int(), pe + 2);
}
