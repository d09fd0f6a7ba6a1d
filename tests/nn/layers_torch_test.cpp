// Every new layer against PyTorch (the python3 the build names, torch 1.13
// or later): the same spec string builds the layer in both (it is valid
// Python too), PyTorch writes its weights, an input, an upstream gradient,
// its output and its gradients, and torchless must reproduce them in
// float32. BatchNorm's running statistics after several training steps too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "io/torch_load.h"
#include "nn/model_spec.h"
#include "nn/state_dict.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::test;

namespace {

// (spec, input shape, training). Inputs are randn; pooling cases see
// distinct values, so no window has a tie whose gradient could go either way.
const char* kScript = R"PY(
import sys, torch, torch.nn as nn
torch.manual_seed(0)
cases = [
  ("Conv2d(3, 4, 3)", (2, 3, 7, 6), True),
  ("Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0))", (2, 3, 7, 6), True),
  ("Conv2d(4, 6, 3, padding=2, dilation=2, groups=2)", (2, 4, 8, 8), True),
  ("Conv2d(2, 3, 1, bias=False)", (3, 2, 5, 5), True),
  ("Conv2d(4, 4, 3, padding=1, groups=4)", (2, 4, 6, 6), True),
  ("Conv2d(3, 5, 3, padding='same')", (2, 3, 6, 6), True),
  ("Conv2d(1, 16, 3, padding=1)", (64, 1, 28, 28), True),
  ("MaxPool2d(2)", (2, 3, 7, 7), True),
  ("MaxPool2d(2)", (2, 3, 10, 37), True),  # 18 windows a row: past one 16-lane block
  ("MaxPool2d(3, stride=2, padding=1, ceil_mode=True)", (2, 3, 8, 7), True),
  ("MaxPool2d(2, stride=1, dilation=2)", (2, 3, 6, 6), True),
  ("AvgPool2d(2)", (2, 3, 7, 7), True),
  ("AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)", (2, 3, 8, 7), True),
  ("AvgPool2d(3, stride=2, padding=1, ceil_mode=True)", (2, 3, 8, 7), True),
  ("AvgPool2d((3, 2), divisor_override=5)", (2, 3, 7, 6), True),
  ("AdaptiveAvgPool2d((3, 2))", (2, 3, 7, 5), True),
  ("AdaptiveAvgPool2d(1)", (2, 3, 7, 5), True),
  ("AdaptiveAvgPool2d((None, 2))", (2, 3, 4, 5), True),
  ("BatchNorm2d(3)", (4, 3, 5, 5), True),
  ("BatchNorm2d(3, eps=0.001, momentum=0.3)", (4, 3, 5, 5), True),
  ("BatchNorm2d(3, affine=False)", (4, 3, 5, 5), True),
  ("BatchNorm2d(3, track_running_stats=False)", (4, 3, 5, 5), False),
  ("BatchNorm1d(5)", (8, 5), True),
  ("BatchNorm1d(5, momentum=None)", (8, 5, 3), True),
  ("Flatten()", (2, 3, 4, 5), True),
  ("Flatten(0, 2)", (2, 3, 4, 5), True),
  ("Softmax(dim=1)", (4, 7), True),
  ("LogSoftmax(dim=1)", (4, 7), True),
  ("Softmax(dim=0)", (4, 7), True),
  ("Sigmoid()", (4, 7), True),
  ("Tanh()", (4, 7), True),
  ("GELU()", (4, 7), True),
  ("GELU(approximate='tanh')", (4, 7), True),
  ("Identity()", (4, 7), True),
  ("Linear(7, 3)", (4, 7), True),
]
out = {}
for k, (spec, shape, training) in enumerate(cases):
  layer = eval("nn." + spec)
  for p in layer.parameters():  # non-trivial affine parameters
    with torch.no_grad(): p.uniform_(0.5, 1.5)
  layer.train(training)
  x = torch.randn(*shape, requires_grad=True)
  before = {n: t.clone() for n, t in layer.state_dict().items()}
  y = layer(x)
  g = torch.randn_like(y)
  y.backward(g)
  case = {"spec": spec, "training": training, "state": before, "x": x.detach(), "y": y.detach(), "g": g,
          "gx": x.grad, "after": dict(layer.state_dict())}
  case["grads"] = {n: p.grad for n, p in layer.named_parameters()}
  out[str(k)] = case
# Running statistics after several training steps, then an eval forward.
for spec in ["BatchNorm2d(3)", "BatchNorm2d(3, momentum=None)", "BatchNorm1d(4, momentum=0.05)"]:
  bn = eval("nn." + spec)
  xs = [torch.randn(6, *((3, 4, 4) if "2d" in spec else (4,))) * (1 + i) + i for i in range(5)]
  for x in xs: bn(x)
  bn.eval()
  out["steps " + spec] = {"spec": spec, "xs": xs, "after": dict(bn.state_dict()), "eval_y": bn(xs[0]).detach()}
torch.save(out, sys.argv[1])
)PY";

// float32 tolerance, scaled to the tensor's largest value: a gradient summed
// over 50,000 products carries float32 rounding of that sum's size, in an
// order that differs between the two GEMMs.
::testing::AssertionResult near(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return ::testing::AssertionFailure() << "sizes differ";
  double scale = 0, worst = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  if (worst <= 1e-5 + 1e-5 * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |diff| " << worst << " for values up to " << scale;
}

class LayersTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!python_has_torch()) return;
    dir_ = new TempDir("torchless_layers_");
    const std::string script = dir_->file("make.py");
    write_file(script, kScript);
    const CommandResult r = run_command(quote(python_path()) + " " + quote(script) + " " + quote(dir_->file("cases.pt")) + " 2>&1");
    if (r.rc != 0) {
      error_ = new std::string(r.out);
      return;
    }
    root_ = new io::ValuePtr(io::load(dir_->file("cases.pt")));
  }
  static void TearDownTestSuite() {
    delete root_;
    delete dir_;
    delete error_;
    root_ = nullptr, dir_ = nullptr, error_ = nullptr;
  }
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << python_path() << " cannot import torch";
    ASSERT_EQ(error_, nullptr) << *error_;
  }
  static TempDir* dir_;
  static io::ValuePtr* root_;
  static std::string* error_;
};
TempDir* LayersTorch::dir_ = nullptr;
io::ValuePtr* LayersTorch::root_ = nullptr;
std::string* LayersTorch::error_ = nullptr;

}  // namespace

TEST_F(LayersTorch, OutputsAndGradientsMatch) {
  int cases = 0;
  for (const auto& [key, c] : (*root_)->entries) {
    if (key->as_str().rfind("steps ", 0) == 0) continue;
    ++cases;
    const std::string spec = c->at("spec")->as_str();
    SCOPED_TRACE(spec);
    auto model = nn::parse_model_spec(spec);
    nn::StateDict state;  // a Sequential of one layer: torch's "weight" is "0.weight"
    for (const auto& [name, t] : nn::state_dict_from_value(c->at("state"))) state.insert("0." + name, t);
    model->load_state_dict(state);
    model->train(c->at("training")->b);
    Tensor x = c->at("x")->tensor.clone().set_requires_grad(true);
    Tensor y = (*model)(x);
    ASSERT_EQ(y.sizes(), c->at("y")->tensor.sizes());
    EXPECT_TRUE(near(y, c->at("y")->tensor));
    y.backward(c->at("g")->tensor);
    EXPECT_TRUE(near(x.grad(), c->at("gx")->tensor)) << "input gradient";
    const nn::StateDict grads = nn::state_dict_from_value(c->at("grads"));
    for (const auto& [name, p] : model->named_parameters()) {
      const std::string torch_name = name.substr(2);
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_TRUE(near(p.grad(), grads.at(torch_name))) << name;
    }
    const nn::StateDict after = nn::state_dict_from_value(c->at("after"));
    for (const auto& [name, t] : model->state_dict()) EXPECT_TRUE(near(t, after.at(name.substr(2)))) << name;
    EXPECT_EQ(model->state_dict().size(), after.size());
  }
  EXPECT_EQ(cases, 35);
}

TEST_F(LayersTorch, BatchNormRunningStatisticsAfterSteps) {
  int cases = 0;
  for (const auto& [key, c] : (*root_)->entries) {
    if (key->as_str().rfind("steps ", 0) != 0) continue;
    ++cases;
    const std::string spec = c->at("spec")->as_str();
    SCOPED_TRACE(spec);
    auto model = nn::parse_model_spec(spec);
    for (const auto& x : c->at("xs")->items) (*model)(x->tensor);
    const nn::StateDict after = nn::state_dict_from_value(c->at("after"));
    for (const auto& [name, t] : model->state_dict()) EXPECT_TRUE(near(t, after.at(name.substr(2)))) << name;
    model->eval();
    EXPECT_TRUE(near((*model)(c->at("xs")->items[0]->tensor), c->at("eval_y")->tensor));
  }
  EXPECT_EQ(cases, 3);
}
