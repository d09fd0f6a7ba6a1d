// The CNN of the "everything about saving weights" tutorial (a Python class
// with layer1 and layer2 Sequentials and an fc head) between PyTorch and
// torchless: PyTorch trains it a few steps and saves {epoch, state_dict,
// optimizer}; torchless rebuilds the architecture from a spec with the same
// keys, resumes with layer1 and layer2 frozen, and its losses must be
// PyTorch's continuation; then PyTorch resumes torchless's checkpoint and
// must go on as its own uninterrupted run does.
#include <gtest/gtest.h>

#include <cmath>

#include "io/torch_load.h"
#include "io/torch_save.h"
#include "nn/functional.h"
#include "nn/model_spec.h"
#include "optim/adam.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::test;

namespace {

const char* kSpec =
    "layer1:[Conv2d(1, 16, kernel_size=5, padding=2) BatchNorm2d(16) ReLU MaxPool2d(2)] "
    "layer2:[Conv2d(16, 32, kernel_size=5, padding=2) BatchNorm2d(32) ReLU MaxPool2d(2)] "
    "Flatten fc:Linear(1568, 10)";

// Steps: 3 before the checkpoint, 4 that torchless trains (layer1 and layer2
// frozen), 3 more in PyTorch after torchless's checkpoint.
constexpr int kBefore = 3, kOurs = 4, kAfter = 3;

const char* kScript = R"PY(
import sys, torch, torch.nn as nn, torch.nn.functional as F
mode, d = sys.argv[1], sys.argv[2]
class CNN(nn.Module):
  def __init__(self):
    super().__init__()
    self.layer1 = nn.Sequential(nn.Conv2d(1, 16, kernel_size=5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
    self.layer2 = nn.Sequential(nn.Conv2d(16, 32, kernel_size=5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
    self.fc = nn.Linear(7 * 7 * 32, 10)
  def forward(self, x):
    out = self.layer2(self.layer1(x))
    return self.fc(out.reshape(out.size(0), -1))
def freeze(model):  # the tutorial's "freeze all but fc"
  for p in list(model.layer1.parameters()) + list(model.layer2.parameters()): p.requires_grad = False
def step(model, opt, x, y):
  loss = F.cross_entropy(model(x), y)
  opt.zero_grad(set_to_none=True)  # torch 2.x's default; 1.13's zeroing would let Adam move frozen weights
  loss.backward()
  opt.step()
  return loss.item()
if mode == "make":
  torch.manual_seed(0)
  batches = [(torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))) for _ in range(%BEFORE% + %OURS% + %AFTER%)]
  model = CNN()
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  for x, y in batches[:%BEFORE%]: step(model, opt, x, y)
  torch.save({"epoch": 1, "valid_loss_min": 1.0, "state_dict": model.state_dict(), "optimizer": opt.state_dict()},
             d + "/pytorch.pt")
  freeze(model)
  losses = [step(model, opt, x, y) for x, y in batches[%BEFORE%:]]
  torch.save({"x": torch.stack([b[0] for b in batches]), "y": torch.stack([b[1] for b in batches]),
              "losses": torch.tensor(losses, dtype=torch.float64)}, d + "/run.pt")
else:  # resume torchless's checkpoint and compare with the uninterrupted run
  run = torch.load(d + "/run.pt")
  ck = torch.load(d + "/torchless.pt")
  model = CNN()
  model.load_state_dict(ck["state_dict"])
  freeze(model)
  opt = torch.optim.Adam(model.parameters(), lr=1e-3)
  opt.load_state_dict(ck["optimizer"])
  model.train()
  start = %BEFORE% + %OURS%
  for i in range(start, start + %AFTER%):
    got, want = step(model, opt, run["x"][i], run["y"][i]), run["losses"][i - %BEFORE%].item()
    print(f"step {i}: {got:.7f} (uninterrupted {want:.7f})")
    assert abs(got - want) < 1e-4, (got, want)
  print("OK")
)PY";

std::string script() {
  std::string s = kScript;
  for (const auto& [k, v] : {std::pair<std::string, int>{"%BEFORE%", kBefore}, {"%OURS%", kOurs}, {"%AFTER%", kAfter}})
    for (size_t p; (p = s.find(k)) != std::string::npos;) s.replace(p, k.size(), std::to_string(v));
  return s;
}

}  // namespace

TEST(TutorialCnn, ResumesPyTorchsCheckpointFrozenAndPyTorchResumesOurs) {
  if (!python_has_torch()) GTEST_SKIP() << python_path() << " cannot import torch";
  TempDir dir("torchless_tutorial_cnn_");
  write_file(dir.file("cnn.py"), script());
  const std::string py = quote(python_path()) + " " + quote(dir.file("cnn.py")) + " ";
  const CommandResult made = run_command(py + "make " + quote(dir.path().string()) + " 2>&1");
  ASSERT_EQ(made.rc, 0) << made.out;

  auto model = nn::parse_model_spec(kSpec);
  optim::Adam opt(model->parameters());
  const io::ValuePtr ck = io::load(dir.file("pytorch.pt"));
  optim::TrainingState st = optim::load_training_checkpoint(ck, *model, opt);
  EXPECT_EQ(st.epoch, 1);
  optim::freeze(*model, {"layer1", "layer2"});
  model->train();
  const io::ValuePtr run = io::load(dir.file("run.pt"));
  const Tensor xs = run->at("x")->tensor, ys = run->at("y")->tensor;
  const auto want = run->at("losses")->tensor.to_vector();
  const nn::StateDict frozen_before = [&] {
    nn::StateDict c;
    for (const auto& [k, t] : model->state_dict()) c.insert(k, t.clone());
    return c;
  }();
  for (int i = kBefore; i < kBefore + kOurs; ++i) {
    Tensor loss = nn::functional::cross_entropy((*model)(xs.select(0, i)), ys.select(0, i));
    EXPECT_NEAR(loss.item(), want[i - kBefore], 1e-4) << "step " << i;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  // Frozen means unchanged weights; BatchNorm's statistics still move in training mode.
  for (const auto& [k, t] : model->state_dict()) {
    const bool weight = k.find("running") == std::string::npos && k.find("num_batches") == std::string::npos;
    if (k.rfind("layer", 0) == 0 && weight) {
      EXPECT_TRUE(equal(t, frozen_before.at(k))) << k;
    } else {
      EXPECT_FALSE(equal(t, frozen_before.at(k))) << k;
    }
  }
  st.epoch = 2;
  st.hparams.model_spec = kSpec;
  st.hparams.frozen = {"layer1", "layer2"};
  io::save(optim::make_training_checkpoint(st, *model, opt), dir.file("torchless.pt"));
  const CommandResult resumed = run_command(py + "resume " + quote(dir.path().string()) + " 2>&1");
  EXPECT_EQ(resumed.rc, 0) << resumed.out;
  EXPECT_TRUE(contains(resumed.out, "OK")) << resumed.out;
}
