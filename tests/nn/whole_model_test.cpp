// Whole-model files both ways, against PyTorch: torch.save(nn.Sequential(...))
// of three shapes (an MLP, a CNN with BatchNorm, nested and named
// Sequentials) rebuilt by torchless give PyTorch's class probabilities,
// requires_grad and training flags; a custom class is refused by name; and
// torchless's whole-model file is a live nn.Module in Python, with equal
// outputs and the same flags.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "nn/functional.h"
#include "nn/model_spec.h"
#include "nn/whole_model.h"
#include "optim/training_checkpoint.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::test;

namespace {

const char* kMakeScript = R"PY(
import collections, sys, torch, torch.nn as nn
d = sys.argv[1]
torch.manual_seed(0)
mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 32), nn.Tanh(),
                    nn.Linear(32, 10))
mlp[1].weight.requires_grad_(False)
cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(8, 16, 3, stride=2, bias=False), nn.BatchNorm2d(16, momentum=None), nn.GELU(),
                    nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Linear(144, 10))
for _ in range(3): cnn(torch.randn(16, 1, 28, 28) * 2 + 0.5)  # running statistics that are not the defaults
for p in cnn[1].parameters(): p.requires_grad_(False)
nested = nn.Sequential(collections.OrderedDict(
    features=nn.Sequential(nn.Conv2d(1, 4, 5, padding='same'), nn.Sigmoid(), nn.AvgPool2d(2, count_include_pad=False)),
    head=nn.Sequential(nn.Flatten(1), nn.Identity(), nn.Linear(4 * 14 * 14, 10), nn.LogSoftmax(dim=1))))
x = torch.randn(5, 1, 28, 28)
out = {"x": x}
for name, m in [("mlp", mlp), ("cnn", cnn), ("nested", nested)]:
  m.eval()
  if name == "nested": m.features.train()  # mixed flags; nothing in features depends on them
  torch.save(m, f"{d}/{name}.pt")
  with torch.no_grad(): out[name] = torch.softmax(m(x), 1)
  out[name + " requires_grad"] = torch.tensor([p.requires_grad for p in m.parameters()])
  out[name + " training"] = torch.tensor([s.training for s in m.modules()])
class Net(nn.Module):
  def __init__(self):
    super().__init__()
    self.body = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    self.fc = nn.Linear(3, 2)
  def forward(self, x): return self.fc(self.body(x)) * 2
torch.save(Net(), f"{d}/custom.pt")
torch.save(nn.Sequential(nn.Linear(4, 4), nn.LSTM(4, 4)), f"{d}/lstm.pt")
torch.save(out, f"{d}/expected.pt")
)PY";

const char* kCheckScript = R"PY(
import sys, torch
m = torch.load(sys.argv[1], weights_only=False)
ref = torch.load(sys.argv[2])
assert isinstance(m, torch.nn.Sequential), type(m)
print(m)
with torch.no_grad(): y = m(ref["x"])
diff = (y - ref["y"]).abs().max().item()
assert diff < 1e-5, f"outputs differ by {diff}"
rg = [p.requires_grad for p in m.parameters()]
assert rg == ref["requires_grad"].tolist(), (rg, ref["requires_grad"].tolist())
tr = [s.training for s in m.modules()]
assert tr == ref["training"].tolist(), (tr, ref["training"].tolist())
keys = list(m.state_dict().keys())
assert keys == ref["keys"].split(), (keys, ref["keys"])
# It trains: the frozen parameters get no gradient, the others do.
m.train()
m(ref["x"]).sum().backward()
for n, p in m.named_parameters(): assert (p.grad is None) == (not p.requires_grad), n
try:
  torch.load(sys.argv[1], weights_only=True)
  print("weights_only=True loaded it")
  sys.exit(1)
except Exception as e:
  print("weights_only=True refuses it:", type(e).__name__)
print("OK max diff", diff)
)PY";

std::vector<bool> flags(const Tensor& t) {
  std::vector<bool> out;
  for (double v : t.to_vector()) out.push_back(v != 0);
  return out;
}

class WholeModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!python_has_torch()) return;
    dir_ = new TempDir("torchless_whole_");
    write_file(dir_->file("make.py"), kMakeScript);
    const CommandResult r =
        run_command(quote(python_path()) + " " + quote(dir_->file("make.py")) + " " + quote(dir_->path().string()) + " 2>&1");
    if (r.rc != 0) error_ = new std::string(r.out);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete error_;
    dir_ = nullptr, error_ = nullptr;
  }
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << python_path() << " cannot import torch";
    ASSERT_EQ(error_, nullptr) << *error_;
  }
  static TempDir* dir_;
  static std::string* error_;
};
TempDir* WholeModel::dir_ = nullptr;
std::string* WholeModel::error_ = nullptr;

}  // namespace

TEST_F(WholeModel, TorchSavedSequentialsPredictPyTorchsProbabilities) {
  const io::ValuePtr expected = io::load(dir_->file("expected.pt"));
  const Tensor x = expected->at("x")->tensor;
  for (const std::string name : {"mlp", "cnn", "nested"}) {
    SCOPED_TRACE(name);
    const std::shared_ptr<nn::Module> m = nn::module_from_value(io::load(dir_->file(name + ".pt")));
    Tensor probs;
    {
      NoGradGuard ng;
      probs = nn::functional::softmax((*m)(x), 1);
    }
    EXPECT_TRUE(allclose(probs, expected->at(name)->tensor, 1e-5, 1e-6)) << to_string(probs);
    std::vector<bool> rg, training;
    for (const auto& [n, p] : m->named_parameters()) rg.push_back(p.requires_grad());
    for (const auto& [n, sub] : m->named_modules()) training.push_back(sub->is_training());
    EXPECT_EQ(rg, flags(expected->at(name + " requires_grad")->tensor));
    EXPECT_EQ(training, flags(expected->at(name + " training")->tensor));
  }
  // Every hyper-parameter came from the pickle.
  const auto cnn = nn::module_from_value(io::load(dir_->file("cnn.pt")));
  EXPECT_EQ(nn::model_spec(*cnn),
            "Conv2d(1, 8, (3, 3), padding=(1, 1)) BatchNorm2d(8) ReLU MaxPool2d((2, 2)) Conv2d(8, 16, (3, 3), stride=(2, 2), "
            "bias=False) BatchNorm2d(16, momentum=None) GELU AdaptiveAvgPool2d((3, 3)) Flatten Linear(144, 10)");
  const auto nested = nn::module_from_value(io::load(dir_->file("nested.pt")));
  EXPECT_EQ(nested->state_dict().keys(),
            (std::vector<std::string>{"features.0.weight", "features.0.bias", "head.2.weight", "head.2.bias"}));
}

TEST_F(WholeModel, CustomClassesAreRefusedByNameAfterListingTheirContents) {
  const std::string e = message_of([&] { nn::module_from_value(io::load(dir_->file("custom.pt"))); });
  EXPECT_TRUE(contains(e, "cannot rebuild the root module (__main__.Net): its forward() is Python code")) << e;
  EXPECT_TRUE(contains(e, "4 parameter(s): body.0.weight [3, 4], body.0.bias [3], fc.weight [2, 3], fc.bias [2]")) << e;
  const std::string l = message_of([&] { nn::module_from_value(io::load(dir_->file("lstm.pt"))); });
  EXPECT_TRUE(contains(l, "module '1' (torch.nn.modules.rnn.LSTM): torchless does not implement LSTM")) << l;
  EXPECT_TRUE(contains(message_of([&] { nn::module_from_value(io::load(dir_->file("expected.pt"))); }),
                       "not a pickled nn.Module"));
}

TEST_F(WholeModel, TorchlessWholeModelFileIsALiveModuleInPython) {
  Generator g(7);
  auto model = nn::parse_model_spec(
      "features:[Conv2d(1, 6, 3, padding=1) BatchNorm2d(6) ReLU MaxPool2d(2) Conv2d(6, 8, 3, stride=2, groups=2) "
      "BatchNorm2d(8, momentum=None, affine=False) GELU(approximate='tanh') AvgPool2d(2, ceil_mode=True)] "
      "Flatten classifier:[Dropout(0.25) Linear(72, 32) Sigmoid Linear(32, 10, bias=False) LogSoftmax(dim=1)]",
      &g);
  for (int i = 0; i < 3; ++i) (*model)(randn({8, 1, 28, 28}, DType::Float32, &g));  // running statistics
  optim::freeze(*model, {"features.0", "classifier.3.weight"});
  model->eval();
  model->named_modules()[2].second->train(true);  // features.0: a mixed flag Python must keep
  const Tensor x = randn({4, 1, 28, 28}, DType::Float32, &g);
  Tensor y;
  {
    NoGradGuard ng;
    y = (*model)(x);
  }
  io::save(nn::module_to_value(*model), dir_->file("ours.pt"));
  auto ref = io::Value::dict();
  ref->set("x", io::Value::from_tensor(x));
  ref->set("y", io::Value::from_tensor(y));
  std::vector<double> rg, training;
  for (const auto& [n, p] : model->named_parameters()) rg.push_back(p.requires_grad());
  for (const auto& [n, m] : model->named_modules()) training.push_back(m->is_training());
  ref->set("requires_grad", io::Value::from_tensor(from_vector(rg, {static_cast<int64_t>(rg.size())}, DType::Bool)));
  ref->set("training", io::Value::from_tensor(from_vector(training, {static_cast<int64_t>(training.size())}, DType::Bool)));
  std::string keys;
  for (const auto& k : model->state_dict().keys()) keys += k + " ";
  ref->set("keys", io::Value::str(keys));
  io::save(ref, dir_->file("ours_ref.pt"));
  write_file(dir_->file("check.py"), kCheckScript);
  const CommandResult r = run_command(quote(python_path()) + " " + quote(dir_->file("check.py")) + " " +
                                      quote(dir_->file("ours.pt")) + " " + quote(dir_->file("ours_ref.pt")) + " 2>&1");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "OK max diff")) << r.out;
  // And torchless reads its own file back to the same model.
  const auto back = nn::module_from_value(io::load(dir_->file("ours.pt")));
  EXPECT_EQ(nn::model_spec(*back), nn::model_spec(*model));
  NoGradGuard ng;
  EXPECT_TRUE(allclose((*back)(x), y, 1e-6, 1e-6));
  for (size_t i = 0; i < back->named_parameters().size(); ++i)
    EXPECT_EQ(back->named_parameters()[i].second.requires_grad(), rg[i] != 0);
}

TEST(WholeModelWrite, RefusesModulesPythonCannotRebuild) {
  nn::Sequential s;
  s.push_back(std::make_shared<nn::Sequential>());
  EXPECT_NO_THROW(nn::module_to_value(s));
  const std::string e = message_of([] {
    struct Custom : nn::Module {
      Tensor forward(const Tensor& x) override { return x; }
      std::string type_name() const override { return "Custom"; }
    };
    nn::Sequential outer;
    outer.push_back("inner", std::make_shared<Custom>());
    nn::module_to_value(outer);
  });
  EXPECT_TRUE(contains(e, "cannot write module 'inner' (Custom) as a whole-model file")) << e;
}
