// nn modules: initialisation statistics, Dropout/ReLU behaviour, key names,
// train/eval, and load_state_dict's strict/non-strict contract.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "nn/linear.h"
#include "nn/sequential.h"
#include "nn/state_dict.h"
#include "support/test_util.h"

using namespace torchless;
using namespace torchless::nn;

using namespace torchless::test;  // support/test_util.h

namespace {

// The "keys" list of one file's entry in the fixture manifest (a tiny JSON
// scan: the manifest is machine-written by json.dump with indent).
std::vector<std::string> manifest_keys(const std::string& file) {
  const std::string text = read_file(std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/manifest.json");
  size_t pos = text.find("\"" + file + "\"");
  if (pos == std::string::npos) return {};
  pos = text.find("\"keys\"", pos);
  const size_t open = text.find('[', pos), close = text.find(']', open);
  std::vector<std::string> keys;
  for (size_t q = text.find('"', open); q != std::string::npos && q < close; q = text.find('"', q + 1)) {
    const size_t e = text.find('"', q + 1);
    keys.push_back(text.substr(q + 1, e - q - 1));
    q = e;
  }
  return keys;
}

}  // namespace

// ------------------------------------------------------------ Linear

TEST(Linear, InitStatisticsMatchTorchsUniformBound) {
  Generator g(1234);
  Linear fc(784, 512, true, &g);
  EXPECT_EQ(fc.weight.sizes(), (Shape{512, 784}));
  EXPECT_EQ(fc.bias.sizes(), (Shape{512}));
  EXPECT_EQ(fc.weight.dtype(), DType::Float32);
  const double bound = 1.0 / std::sqrt(784.0);  // 1/28
  const auto w = fc.weight.to_vector();
  const double n = static_cast<double>(w.size());
  double mn = 1e9, mx = -1e9, s = 0, s2 = 0;
  for (double v : w) {
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    s += v;
    s2 += v * v;
  }
  const double mean = s / n, var = s2 / n - mean * mean;
  EXPECT_GE(mn, -bound);
  EXPECT_LT(mx, bound);
  EXPECT_LT(mn, -0.999 * bound);  // the whole range is used
  EXPECT_GT(mx, 0.999 * bound);
  // mean's standard error is bound/sqrt(3n) ~ 1.6e-5; allow 5 sigma
  EXPECT_NEAR(mean, 0.0, 5 * bound / std::sqrt(3 * n));
  // variance bound^2/3; its relative standard error is ~0.14%: allow 1%
  EXPECT_NEAR(var, bound * bound / 3, 0.01 * bound * bound / 3);
  // bias shares the bound
  const auto b = fc.bias.to_vector();
  for (double v : b) {
    EXPECT_GE(v, -bound);
    EXPECT_LT(v, bound);
  }
  // parameters are leaves requiring grad
  EXPECT_TRUE(fc.weight.requires_grad());
  EXPECT_TRUE(fc.weight.is_leaf());
  EXPECT_TRUE(fc.bias.requires_grad());
}

TEST(Linear, SeededGeneratorIsReproducible) {
  Generator g1(5), g2(5), g3(6);
  Linear a(10, 4, true, &g1), b(10, 4, true, &g2), c(10, 4, true, &g3);
  EXPECT_TRUE(equal(a.weight, b.weight));
  EXPECT_TRUE(equal(a.bias, b.bias));
  EXPECT_FALSE(equal(a.weight, c.weight));
  a.reset_parameters(&g1);
  EXPECT_FALSE(equal(a.weight, b.weight));  // the stream moved on
  Linear nb(3, 2, false);
  EXPECT_FALSE(nb.bias.defined());
  EXPECT_EQ(nb.named_parameters().size(), 1u);
  EXPECT_THROW(Linear(0, 3), std::invalid_argument);
}

TEST(Linear, ForwardIsXWtPlusB) {
  Linear fc(3, 2);
  {
    NoGradGuard ng;
    fc.weight.copy_(from_vector(std::vector<double>{1, 2, 3, -1, 0, 1}, {2, 3}));
    fc.bias.copy_(from_vector(std::vector<double>{0.5, -0.5}, {2}));
  }
  Tensor y = fc(from_vector(std::vector<double>{1, 1, 1, 2, 0, -1}, {2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{6.5, -0.5, -0.5, -3.5}));
  EXPECT_TRUE(y.requires_grad());
  sum(y).backward();
  EXPECT_EQ(fc.weight.grad().to_vector(), (std::vector<double>{3, 1, 0, 3, 1, 0}));
  EXPECT_EQ(fc.bias.grad().to_vector(), (std::vector<double>{2, 2}));
  fc.zero_grad();
  EXPECT_FALSE(fc.weight.grad().defined());
  EXPECT_FALSE(fc.bias.grad().defined());
  EXPECT_THROW(fc(zeros({2, 4})), std::invalid_argument);
}

// ------------------------------------------------------------ Dropout / ReLU

TEST(Dropout, TrainZeroesAboutPAndScalesSurvivorsExactly) {
  for (double p : {0.2, 0.5, 0.8}) {
    Generator g(99);
    Dropout d(p, &g);
    EXPECT_TRUE(d.is_training());
    const int64_t n = 1000000;
    Tensor x = full({n}, 1.0);
    Tensor y = d(x);
    const float* yp = y.data_ptr<float>();
    const float scale = static_cast<float>(1.0 / (1.0 - p));
    int64_t zeros_n = 0, bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (yp[i] == 0.0f) ++zeros_n;
      else if (yp[i] != scale) ++bad;
    }
    EXPECT_EQ(bad, 0) << "p=" << p;
    const double frac = static_cast<double>(zeros_n) / n;
    const double sigma = std::sqrt(p * (1 - p) / n);  // binomial
    EXPECT_NEAR(frac, p, 5 * sigma) << "p=" << p;
    // the expected value is preserved
    EXPECT_NEAR(sum(y).item() / n, 1.0, 5 * sigma / (1 - p));
  }
}

TEST(Dropout, EvalIsIdentityAndEdgeProbabilities) {
  Dropout d(0.5);
  Tensor x = from_vector(std::vector<double>{1, -2, 3, 4}, {2, 2});
  d.eval();
  EXPECT_FALSE(d.is_training());
  Tensor y = d(x);
  EXPECT_TRUE(equal(y, x));
  EXPECT_EQ(y.storage().id(), x.storage().id());
  d.train();
  Dropout none(0.0);
  EXPECT_TRUE(equal(none(x), x));
  Dropout all(1.0);
  EXPECT_EQ(all(x).to_vector(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_THROW(Dropout(-0.1), std::invalid_argument);
  EXPECT_THROW(Dropout(1.1), std::invalid_argument);
  EXPECT_THROW(Dropout(NAN), std::invalid_argument);
  // different draws on successive calls in training mode
  Generator g(3);
  Dropout dd(0.5, &g);
  Tensor ones_t = ones({256});
  EXPECT_FALSE(equal(dd(ones_t), dd(ones_t)));
}

TEST(Dropout, FusedReluMatchesComposedOpsBitForBit) {
  // dropout_relu must give exactly dropout(relu(x)): same draw from the
  // generator, same mask, same values and same gradient, including where x
  // is negative, zero or dropped, and where the upstream gradient is not
  // finite but relu blocked it.
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (int64_t n : {int64_t{1000}, int64_t{70000}}) {  // serial and parallel loops
      Tensor x = randn({n}).to(dt);
      x.set_requires_grad();
      Tensor g = randn({n}).to(dt);
      Generator g1(42), g2(42);
      Tensor composed = functional::dropout(relu(x), 0.3, true, &g1);
      composed.backward(g);
      const Tensor grad_composed = x.grad();
      x.set_grad(Tensor());
      Tensor fused = functional::dropout_relu(x, 0.3, true, &g2);
      fused.backward(g);
      EXPECT_TRUE(equal(fused, composed)) << dtype_name(dt) << " n=" << n;
      EXPECT_TRUE(equal(x.grad(), grad_composed)) << dtype_name(dt) << " n=" << n;
      EXPECT_EQ(g1.get_state(), g2.get_state());
      // Some elements were dropped and some blocked by relu: the test covers both.
      const Tensor kept = gt(fused.detach(), zeros({n}, dt));
      const double kept_fraction = sum(kept.to(DType::Float64)).item();
      EXPECT_GT(kept_fraction, 0.25 * n);  // ~ 0.5 (relu) * 0.7 (keep)
      EXPECT_LT(kept_fraction, 0.45 * n);
    }
  }
  // A non-finite gradient where relu blocked x stays 0, as relu's own backward gives.
  Tensor x = from_vector(std::vector<double>{-1, 2}, {2}, DType::Float64);
  x.set_requires_grad();
  Generator g(0);
  functional::dropout_relu(x, 1e-9, true, &g).backward(from_vector(std::vector<double>{NAN, 1}, {2}, DType::Float64));
  EXPECT_EQ(x.grad().to_vector()[0], 0.0);
  // Eval mode is plain relu; a bad p throws.
  EXPECT_TRUE(equal(functional::dropout_relu(x, 0.5, false), relu(x)));
  EXPECT_THROW(functional::dropout_relu(x, 1.5, true), std::invalid_argument);
}

TEST(ReLU, ForwardAndBackward) {
  ReLU r;
  Tensor x = from_vector(std::vector<double>{-1, 0, 2.5, -0.0, 7}, {5}, DType::Float64);
  x.set_requires_grad();
  Tensor y = r(x);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 0, 2.5, 0, 7}));
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 1, 0, 1}));  // torch: grad 0 at 0
  EXPECT_EQ(r.type_name(), "ReLU");
  EXPECT_TRUE(r.named_parameters().empty());
}

// ------------------------------------------------------------ containers & keys

TEST(Sequential, KeyNamesAndForward) {
  Generator g(1);
  auto seq = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Linear>(3, 4, true, &g), std::make_shared<ReLU>(), std::make_shared<Linear>(4, 2, true, &g)});
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ(seq->state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  std::vector<std::string> names;
  for (auto& [n, t] : seq->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  auto children = seq->named_children();
  ASSERT_EQ(children.size(), 3u);
  EXPECT_EQ(children[1].first, "1");
  EXPECT_EQ(children[1].second->type_name(), "ReLU");
  // forward == the layers applied by hand
  Generator gx(2);
  Tensor x = rand({5, 3}, DType::Float32, &gx);
  auto& l0 = static_cast<Linear&>((*seq)[0]);
  auto& l2 = static_cast<Linear&>((*seq)[2]);
  Tensor expect = linear(relu(linear(x, l0.weight, l0.bias)), l2.weight, l2.bias);
  EXPECT_TRUE(equal((*seq)(x), expect));
  // push_back names by index
  Sequential s2;
  s2.push_back(std::make_shared<Linear>(2, 2));
  s2.push_back(std::make_shared<Dropout>(0.1));
  s2.push_back(std::make_shared<Linear>(2, 1, false));
  EXPECT_EQ(s2.state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
}

TEST(FashionClassifier, StateDictKeysAndShapesMatchTorch) {
  FashionClassifier model;
  const std::vector<std::string> expected = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight",
                                             "fc3.bias",   "fc4.weight", "fc4.bias", "fc5.weight", "fc5.bias"};
  StateDict sd = model.state_dict();
  EXPECT_EQ(sd.keys(), expected);
  // and the same list torch 2.11 wrote for the real model
  EXPECT_EQ(manifest_keys("fashion_init_state_dict.pt"), expected);
  const std::vector<Shape> shapes = {{512, 784}, {512}, {256, 512}, {256}, {128, 256},
                                     {128},      {64, 128}, {64},   {10, 64},   {10}};
  int64_t total = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(sd.at(expected[i]).sizes(), shapes[i]) << expected[i];
    EXPECT_EQ(sd.at(expected[i]).dtype(), DType::Float32);
    total += sd.at(expected[i]).numel();
  }
  EXPECT_EQ(total, 575050);
  // named_parameters: same names, same order, the live parameters
  auto np = model.named_parameters();
  ASSERT_EQ(np.size(), expected.size());
  for (size_t i = 0; i < np.size(); ++i) {
    EXPECT_EQ(np[i].first, expected[i]);
    EXPECT_TRUE(np[i].second.requires_grad());
  }
  EXPECT_TRUE(np[0].second.is_same(model.fc1->weight));
  EXPECT_EQ(model.parameters().size(), 10u);
  EXPECT_TRUE(model.named_buffers().empty());
  auto direct = model.named_parameters(false);
  EXPECT_TRUE(direct.empty());
  // state_dict values are detached but share the parameters' storage (like torch)
  const Tensor& w = sd.at("fc1.weight");
  EXPECT_FALSE(w.requires_grad());
  EXPECT_EQ(w.storage().id(), model.fc1->weight.storage().id());
  EXPECT_THROW(sd.at("fc6.weight"), std::out_of_range);
  EXPECT_EQ(sd.find("nope"), nullptr);
}

TEST(FashionClassifier, ForwardShapesAndEvalEqualsManualComposition) {
  Generator g(11);
  FashionClassifier model(0.2, &g);
  Tensor x = rand({3, 1, 28, 28}, DType::Float32, &g);
  model.eval();
  Tensor y = model(x);
  EXPECT_EQ(y.sizes(), (Shape{3, 10}));
  Tensor h = x.reshape({3, 784});
  for (auto* fc : {model.fc1.get(), model.fc2.get(), model.fc3.get(), model.fc4.get()})
    h = relu(linear(h, fc->weight, fc->bias));
  Tensor expect = linear(h, model.fc5->weight, model.fc5->bias);
  EXPECT_TRUE(allclose(y, expect, 1e-6, 1e-7));
  EXPECT_TRUE(equal(model(x.reshape({3, 784})), y));
  // eval is deterministic; train mode applies dropout (different outputs)
  EXPECT_TRUE(equal(model(x), y));
  model.train();
  EXPECT_FALSE(allclose(model(x), y));
}

TEST(Module, TrainEvalPropagateToChildren) {
  FashionClassifier model;
  EXPECT_TRUE(model.is_training());
  EXPECT_TRUE(model.dropout->is_training());
  model.eval();
  EXPECT_FALSE(model.is_training());
  for (auto& [name, child] : model.named_children()) EXPECT_FALSE(child->is_training()) << name;
  model.train();
  for (auto& [name, child] : model.named_children()) EXPECT_TRUE(child->is_training()) << name;
  // nested containers too
  auto inner = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{std::make_shared<Dropout>(0.5)});
  Sequential outer(std::vector<std::shared_ptr<Module>>{inner});
  outer.eval();
  EXPECT_FALSE((*inner)[0].is_training());
  EXPECT_EQ(outer.state_dict().size(), 0u);
}

// ------------------------------------------------------------ load_state_dict

namespace {
StateDict other_weights(uint64_t seed) {
  Generator g(seed);
  FashionClassifier src(0.2, &g);
  StateDict sd;
  for (auto& [k, v] : src.state_dict()) sd.insert(k, v.clone());
  return sd;
}
std::vector<std::vector<double>> snapshot(const Module& m) {
  std::vector<std::vector<double>> out;
  for (auto& [k, v] : m.state_dict()) out.push_back(v.to_vector());
  return out;
}
}  // namespace

TEST(LoadStateDict, StrictLoadsEverything) {
  FashionClassifier model;
  StateDict sd = other_weights(21);
  Tensor w_before = model.fc1->weight;
  LoadResult r = model.load_state_dict(sd);
  EXPECT_TRUE(r.ok());
  for (auto& [k, v] : model.state_dict()) EXPECT_TRUE(equal(v, sd.at(k))) << k;
  // in place: same parameter tensors, still leaves requiring grad
  EXPECT_TRUE(model.fc1->weight.is_same(w_before));
  EXPECT_TRUE(model.fc1->weight.requires_grad());
  EXPECT_TRUE(model.fc1->weight.is_leaf());
  // the loaded values are copies, not aliases of the dict
  EXPECT_NE(model.fc1->weight.storage().id(), sd.at("fc1.weight").storage().id());
  // dtype conversion on load (float64 dict into float32 model)
  StateDict sd64;
  for (auto& [k, v] : sd) sd64.insert(k, v.to(DType::Float64));
  FashionClassifier m2;
  m2.load_state_dict(sd64);
  EXPECT_EQ(m2.fc2->bias.dtype(), DType::Float32);
  EXPECT_TRUE(equal(m2.fc2->bias, sd.at("fc2.bias")));
}

TEST(LoadStateDict, StrictListsMissingAndUnexpectedAndChangesNothing) {
  FashionClassifier model;
  const auto before = snapshot(model);
  StateDict full_sd = other_weights(22);
  StateDict sd;
  for (auto& [k, v] : full_sd)
    if (k != "fc3.bias" && k != "fc5.weight") sd.insert(k, v);
  sd.insert("fc6.weight", zeros({1}));
  const std::string msg = message_of([&] { model.load_state_dict(sd); });
  EXPECT_TRUE(contains(msg, "fc3.bias")) << msg;
  EXPECT_TRUE(contains(msg, "fc5.weight")) << msg;
  EXPECT_TRUE(contains(msg, "fc6.weight")) << msg;
  EXPECT_TRUE(contains(msg, "issing")) << msg;
  EXPECT_TRUE(contains(msg, "nexpected")) << msg;
  EXPECT_THROW(model.load_state_dict(sd), std::invalid_argument);
  EXPECT_EQ(snapshot(model), before);
  // only unexpected
  StateDict extra = full_sd;
  extra.insert("num_batches_tracked", zeros({}, DType::Int64));
  const std::string msg2 = message_of([&] { model.load_state_dict(extra); });
  EXPECT_TRUE(contains(msg2, "num_batches_tracked")) << msg2;
  EXPECT_FALSE(contains(msg2, "issing")) << msg2;
  EXPECT_EQ(snapshot(model), before);
}

TEST(LoadStateDict, NonStrictReturnsListsAndLoadsTheRest) {
  FashionClassifier model;
  const auto before = snapshot(model);
  StateDict full_sd = other_weights(23);
  StateDict sd;
  for (auto& [k, v] : full_sd)
    if (k != "fc3.bias") sd.insert(k, v);
  sd.insert("extra.weight", zeros({2}));
  LoadResult r = model.load_state_dict(sd, /*strict=*/false);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"fc3.bias"}));
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"extra.weight"}));
  EXPECT_TRUE(equal(model.fc1->weight, full_sd.at("fc1.weight")));
  EXPECT_TRUE(equal(model.fc5->bias, full_sd.at("fc5.bias")));
  EXPECT_EQ(model.fc3->bias.to_vector(), before[5]);  // untouched
}

TEST(LoadStateDict, ShapeMismatchThrowsNamingKeyAndShapesEvenNonStrict) {
  FashionClassifier model;
  const auto before = snapshot(model);
  StateDict sd = other_weights(24);
  sd.insert("fc2.weight", zeros({256, 500}));  // replaces, keeping position
  for (bool strict : {true, false}) {
    const std::string msg = message_of([&] { model.load_state_dict(sd, strict); });
    EXPECT_TRUE(contains(msg, "fc2.weight")) << msg;
    EXPECT_TRUE(contains(msg, "[256, 500]")) << msg;
    EXPECT_TRUE(contains(msg, "[256, 512]")) << msg;
    EXPECT_THROW(model.load_state_dict(sd, strict), std::invalid_argument);
    // fc1 comes before the bad key and must not have been loaded either
    EXPECT_EQ(snapshot(model), before) << "strict=" << strict;
  }
  // an integer tensor for a float parameter is refused too
  StateDict bad = other_weights(25);
  bad.insert("fc5.bias", zeros({10}, DType::Int64));
  EXPECT_THROW(model.load_state_dict(bad), std::invalid_argument);
  EXPECT_EQ(snapshot(model), before);
}

TEST(StateDictTest, InsertFindAndStripPrefix) {
  StateDict sd;
  sd.insert("module.a", zeros({1}));
  sd.insert("module.b", ones({2}));
  sd.insert("module.a", ones({3}));  // replace keeps position
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"module.a", "module.b"}));
  EXPECT_EQ(sd.at("module.a").numel(), 3);
  bool stripped = false;
  StateDict s = strip_prefix(sd, "module.", &stripped);
  EXPECT_TRUE(stripped);
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(s.at("b").is_same(sd.at("module.b")));
  // not every key has the prefix: unchanged
  sd.insert("other", zeros({1}));
  StateDict u = strip_prefix(sd, "module.", &stripped);
  EXPECT_FALSE(stripped);
  EXPECT_EQ(u.keys(), sd.keys());
  EXPECT_FALSE(strip_prefix(StateDict(), "module.", &stripped).size());
  EXPECT_FALSE(stripped);
  // a DataParallel-style checkpoint loads after stripping
  FashionClassifier model;
  StateDict dp;
  StateDict src = other_weights(26);
  for (auto& [k, v] : src) dp.insert("module." + k, v);
  EXPECT_THROW(model.load_state_dict(dp), std::invalid_argument);
  EXPECT_TRUE(model.load_state_dict(strip_prefix(dp, "module.")).ok());
  EXPECT_TRUE(equal(model.fc4->weight, src.at("fc4.weight")));
}
