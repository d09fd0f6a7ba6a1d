// Adam/AdamW against (1) the torch formulas written out here in double,
// independently of optim/adam.cpp, and (2) real PyTorch run at test time.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <unistd.h>

#include "core/generator.h"
#include "core/ops.h"
#include "nn/functional.h"
#include "nn/linear.h"
#include "nn/activation.h"
#include "nn/sequential.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace torchless;
using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::vector<double> kP0 = {0.5, -1.25, 2.0, 0.0, -0.03125};
const std::vector<std::vector<double>> kGrads = {
    {0.1, -0.2, 0.3, 0.0, 1.5},
    {-0.4, 0.25, 0.3, 1e-3, -2.0},
    {0.05, -0.6, -0.1, 0.0, 0.75},
};

struct Config {
  std::string name;
  AdamOptions opt;
  bool adamw;
  std::string torch_ctor;  // Python expression building the torch optimizer over [p]
};

std::vector<Config> configs() {
  std::vector<Config> c;
  AdamOptions o;
  c.push_back({"default", o, false, "torch.optim.Adam([p])"});
  o = {};
  o.lr = 0.1;
  c.push_back({"lr", o, false, "torch.optim.Adam([p], lr=0.1)"});
  o = {};
  o.lr = 0.05;
  o.weight_decay = 0.1;
  c.push_back({"weight_decay", o, false, "torch.optim.Adam([p], lr=0.05, weight_decay=0.1)"});
  o = {};
  o.lr = 0.05;
  o.amsgrad = true;
  c.push_back({"amsgrad", o, false, "torch.optim.Adam([p], lr=0.05, amsgrad=True)"});
  o = {};
  o.lr = 0.05;
  o.maximize = true;
  c.push_back({"maximize", o, false, "torch.optim.Adam([p], lr=0.05, maximize=True)"});
  o = {};
  o.lr = 0.02;
  o.beta1 = 0.8;
  o.beta2 = 0.95;
  o.eps = 1e-3;
  c.push_back({"betas_eps", o, false, "torch.optim.Adam([p], lr=0.02, betas=(0.8, 0.95), eps=1e-3)"});
  o = {};
  o.lr = 0.05;
  o.weight_decay = 0.2;
  o.amsgrad = true;
  o.maximize = true;
  c.push_back({"all_options", o, false,
               "torch.optim.Adam([p], lr=0.05, weight_decay=0.2, amsgrad=True, maximize=True)"});
  c.push_back({"adamw_default", AdamW::defaults(), true, "torch.optim.AdamW([p])"});
  o = AdamW::defaults();
  o.lr = 0.1;
  o.weight_decay = 0.5;
  c.push_back({"adamw_wd", o, true, "torch.optim.AdamW([p], lr=0.1, weight_decay=0.5)"});
  o = AdamW::defaults();
  o.lr = 0.05;
  o.amsgrad = true;
  o.beta1 = 0.5;
  c.push_back({"adamw_amsgrad", o, true, "torch.optim.AdamW([p], lr=0.05, amsgrad=True, betas=(0.5, 0.999))"});
  return c;
}

// torch.optim.Adam's single-tensor algorithm, written out in double.
std::vector<double> reference_adam(const AdamOptions& o, const std::vector<double>& p0,
                                   const std::vector<std::vector<double>>& grads) {
  const size_t n = p0.size();
  std::vector<double> p(p0.begin(), p0.end());
  std::vector<double> m(n), v(n), vmax(n);  // zero-initialised
  int t = 0;
  for (const auto& grad : grads) {
    ++t;
    const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
    for (size_t i = 0; i < n; ++i) {
      double g = o.maximize ? -grad[i] : grad[i];
      if (o.decoupled_weight_decay) p[i] *= 1 - o.lr * o.weight_decay;
      else g += o.weight_decay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      double vv = v[i];
      if (o.amsgrad) vv = vmax[i] = std::max(vmax[i], v[i]);
      const double denom = std::sqrt(vv) / std::sqrt(bc2) + o.eps;
      p[i] -= (o.lr / bc1) * m[i] / denom;
    }
  }
  return p;
}

std::vector<double> run_torchless(const Config& c, const std::vector<double>& p0,
                                  const std::vector<std::vector<double>>& grads) {
  Tensor p = from_vector(p0, {static_cast<int64_t>(p0.size())}, DType::Float64);
  p.set_requires_grad();
  std::unique_ptr<Adam> opt = c.adamw ? std::make_unique<AdamW>(std::vector<Tensor>{p}, c.opt)
                                      : std::make_unique<Adam>(std::vector<Tensor>{p}, c.opt);
  for (const auto& g : grads) {
    p.set_grad(from_vector(g, {static_cast<int64_t>(g.size())}, DType::Float64));
    opt->step();
  }
  return p.to_vector();
}

std::string py_list(const std::vector<double>& v) {
  std::string s = "[";
  char buf[40];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    s += (i ? ", " : "") + std::string(buf);
  }
  return s + "]";
}

// Runs `script` with TORCHLESS_PYTHON; returns {exit status, stdout}.
std::pair<int, std::string> run_python(const std::string& script) {
  const TempDir dir("torchless_adam_");
  const std::string path = dir.file("script.py");
  if (!write_file(path, script)) return {-1, ""};
  const auto r = run_command(std::string(TORCHLESS_PYTHON) + " " + path + " 2>&1");
  return {r.rc, r.out};
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i]))) << what << " element " << i;
}

}  // namespace

TEST(Adam, MatchesHandWrittenTorchFormulasForEveryOption) {
  for (const auto& c : configs()) {
    const auto want = reference_adam(c.opt, kP0, kGrads);
    const auto got = run_torchless(c, kP0, kGrads);
    expect_close(got, want, 1e-13, c.name);
    // and the parameters actually moved (a no-op optimizer would fail here)
    EXPECT_GT(std::abs(got[0] - kP0[0]), 1e-5) << c.name;
  }
}

TEST(Adam, FirstStepIsSignTimesLr) {
  // With bias correction, step 1 is p -= lr * g/(|g| + eps'): about lr*sign(g).
  Tensor p = from_vector(std::vector<double>{1, 1, 1}, {3}, DType::Float64);
  p.set_requires_grad();
  AdamOptions o;
  o.lr = 0.1;
  o.eps = 0;
  Adam opt({p}, o);
  p.set_grad(from_vector(std::vector<double>{3, -0.001, 0}, {3}, DType::Float64));
  opt.step();
  const auto v = p.to_vector();
  EXPECT_NEAR(v[0], 0.9, 1e-15);
  EXPECT_NEAR(v[1], 1.1, 1e-15);
  EXPECT_TRUE(std::isnan(v[2]));  // 0/0 with eps = 0, exactly as torch
  EXPECT_EQ(opt.state(0).step, 1.0);
  // the state holds torch's exp_avg / exp_avg_sq after one step
  EXPECT_NEAR(opt.state(0).exp_avg.to_vector()[0], 0.3, 1e-15);
  EXPECT_NEAR(opt.state(0).exp_avg_sq.to_vector()[0], 0.009, 1e-15);
  EXPECT_FALSE(opt.state(0).max_exp_avg_sq.defined());
}

TEST(Adam, MatchesRealPyTorch) {
  std::ostringstream py;
  py << "import sys\n"
        "try:\n"
        "    import torch\n"
        "except Exception as e:\n"
        "    print('NO_TORCH', e)\n"
        "    sys.exit(0)\n"
        "torch.set_default_dtype(torch.float64)\n"
        "p0 = " << py_list(kP0) << "\n"
        "grads = [" << py_list(kGrads[0]) << ", " << py_list(kGrads[1]) << ", " << py_list(kGrads[2]) << "]\n";
  for (const auto& c : configs()) {
    py << "p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)\n"
       << "opt = " << c.torch_ctor << "\n"
       << "for g in grads:\n"
          "    p.grad = torch.tensor(g, dtype=torch.float64)\n"
          "    opt.step()\n"
       << "print('" << c.name << "', ' '.join(repr(x) for x in p.detach().tolist()))\n";
  }
  auto [status, out] = run_python(py.str());
  if (out.rfind("NO_TORCH", 0) == 0) GTEST_SKIP() << "PyTorch is not importable: " << out;
  ASSERT_EQ(status, 0) << out;
  std::map<std::string, std::vector<double>> torch_result;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string name;
    ls >> name;
    std::vector<double> v;
    std::string tok;
    while (ls >> tok) v.push_back(std::strtod(tok.c_str(), nullptr));
    if (v.size() == kP0.size()) torch_result[name] = v;
  }
  for (const auto& c : configs()) {
    ASSERT_TRUE(torch_result.count(c.name)) << "no torch result for " << c.name << "\n" << out;
    expect_close(run_torchless(c, kP0, kGrads), torch_result[c.name], 1e-12, c.name + " vs torch");
  }
}

TEST(Adam, FrozenParametersStayBitIdentical) {
  Generator g(7);
  auto l1 = std::make_shared<nn::Linear>(4, 8, true, &g);
  auto l2 = std::make_shared<nn::Linear>(8, 3, true, &g);
  nn::Sequential model(std::vector<std::shared_ptr<nn::Module>>{l1, std::make_shared<nn::ReLU>(), l2});
  l1->weight.set_requires_grad(false);  // freeze the first layer's weight
  const std::vector<double> frozen_before = l1->weight.to_vector();
  std::vector<uint8_t> frozen_bytes(l1->weight.nbytes());
  std::memcpy(frozen_bytes.data(), l1->weight.raw_data(), frozen_bytes.size());
  const std::vector<double> l2w_before = l2->weight.to_vector();
  AdamOptions o;
  o.lr = 0.01;
  o.weight_decay = 0.1;  // would move even a zero-gradient parameter
  Adam opt(model.parameters(), o);
  Tensor x = rand({16, 4}, DType::Float32, &g);
  Tensor target = from_vector(std::vector<double>(16, 1.0), {16}, DType::Int64);
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(model(x), target);
    if (step == 0) first_loss = loss.item();
    last_loss = loss.item();
    loss.backward();
    EXPECT_FALSE(l1->weight.grad().defined());
    opt.step();
  }
  EXPECT_EQ(std::memcmp(frozen_bytes.data(), l1->weight.raw_data(), frozen_bytes.size()), 0);
  EXPECT_EQ(l1->weight.to_vector(), frozen_before);
  EXPECT_EQ(opt.state(0).step, 0.0);
  EXPECT_FALSE(opt.state(0).exp_avg.defined());
  EXPECT_EQ(opt.state(1).step, 10.0);  // l1.bias trained
  EXPECT_NE(l2->weight.to_vector(), l2w_before);
  EXPECT_LT(last_loss, first_loss);  // the rest of the model learned
}

TEST(Adam, ParamsWithoutGradAreSkipped) {
  Tensor a = from_vector(std::vector<double>{1, 2}, {2}, DType::Float64);
  Tensor b = from_vector(std::vector<double>{3, 4}, {2}, DType::Float64);
  a.set_requires_grad();
  b.set_requires_grad();
  Adam opt({a, b});
  for (int i = 0; i < 3; ++i) {
    a.set_grad(from_vector(std::vector<double>{0.5, -0.5}, {2}, DType::Float64));
    opt.step();
  }
  EXPECT_EQ(b.to_vector(), (std::vector<double>{3, 4}));
  EXPECT_EQ(opt.state(1).step, 0.0);
  EXPECT_FALSE(opt.state(1).exp_avg.defined());
  EXPECT_EQ(opt.state(0).step, 3.0);
  EXPECT_NE(a.to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(opt.num_params(), 2u);
  // zero_grad drops gradients (set_to_none)
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  opt.step();  // nothing to do
  EXPECT_EQ(opt.state(0).step, 3.0);
}

TEST(Adam, ParamGroupsUseTheirOwnOptions) {
  Tensor a = from_vector(kP0, {5}, DType::Float64);
  Tensor b = from_vector(kP0, {5}, DType::Float64);
  a.set_requires_grad();
  b.set_requires_grad();
  AdamOptions oa, ob;
  oa.lr = 0.1;
  ob.lr = 0.01;
  ob.amsgrad = true;
  Adam opt(std::vector<optim::ParamGroup>{{{a}, oa}, {{b}, ob}});
  for (const auto& g : kGrads) {
    a.set_grad(from_vector(g, {5}, DType::Float64));
    b.set_grad(from_vector(g, {5}, DType::Float64));
    opt.step();
  }
  expect_close(a.to_vector(), reference_adam(oa, kP0, kGrads), 1e-13, "group a");
  expect_close(b.to_vector(), reference_adam(ob, kP0, kGrads), 1e-13, "group b");
  EXPECT_TRUE(opt.state(1).max_exp_avg_sq.defined());
}

TEST(Adam, Float32ParametersTrackTheDoubleReference) {
  Tensor p = from_vector(kP0, {5}, DType::Float32);
  p.set_requires_grad();
  AdamOptions o;
  o.lr = 0.05;
  Adam opt({p}, o);
  for (const auto& g : kGrads) {
    p.set_grad(from_vector(g, {5}, DType::Float32));
    opt.step();
  }
  expect_close(p.to_vector(), reference_adam(o, kP0, kGrads), 1e-6, "float32");
}

TEST(Adam, InvalidOptionsThrow) {
  Tensor p = zeros({2}, DType::Float64);
  p.set_requires_grad();
  auto make = [&](auto edit) {
    AdamOptions o;
    edit(o);
    Adam opt({p}, o);
  };
  EXPECT_THROW(make([](AdamOptions& o) { o.lr = -1e-3; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.beta1 = 1.0; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.beta2 = 1.0; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.beta1 = -0.1; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.eps = -1e-8; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.weight_decay = -0.1; }), std::invalid_argument);
  EXPECT_THROW(make([](AdamOptions& o) { o.lr = NAN; }), std::invalid_argument);
  EXPECT_NO_THROW(make([](AdamOptions& o) { o.lr = 0; }));
  try {
    make([](AdamOptions& o) { o.beta2 = 1.5; });
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("index 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Adam(std::vector<Tensor>{}), std::invalid_argument);
  EXPECT_THROW(Adam({zeros({2}, DType::Int64)}), std::invalid_argument);
  EXPECT_THROW(Adam({Tensor()}), std::invalid_argument);
  // AdamW: decoupled even if the caller forgot, default wd 1e-2
  AdamW w({p});
  EXPECT_EQ(w.type_name(), "AdamW");
  EXPECT_TRUE(w.param_groups()[0].options.decoupled_weight_decay);
  EXPECT_EQ(w.param_groups()[0].options.weight_decay, 1e-2);
  AdamOptions plain;
  plain.weight_decay = 0.3;
  AdamW w2({p}, plain);
  EXPECT_TRUE(w2.param_groups()[0].options.decoupled_weight_decay);
  EXPECT_EQ(Adam({p}).type_name(), "Adam");
}
