// Cross-framework training continuity: starting from PyTorch's own initial
// weights, torchless must retrace the 20 Adam steps PyTorch 2.11 recorded.
#include <gtest/gtest.h>

#include <cmath>

#include "io/fashion_mnist.h"
#include "io/idx.h"
#include "io/torch_load.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "optim/adam.h"

using namespace torchless;

namespace {
const std::string kData = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/";

// ||a - b|| / ||b||: elementwise tolerances are meaningless for moments
// near zero, where GEMM summation order alone changes the last bits (the
// recording ran on an H100; 20 steps of float32 noise leave ~1e-4 here).
double rel_norm_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]) / std::max(1e-3, std::abs(y[i])));
  return worst;
}
}  // namespace

TEST(TorchTrajectory, TwentyAdamStepsMatchPyTorch) {
  const std::string dir = io::default_fashion_mnist_dir();
  io::Dataset train;
  try {
    train = io::load_fashion_mnist(dir, true);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  const io::ValuePtr traj = io::load(kData + "fashion_adam_trajectory.pt");
  const int64_t steps = traj->at("losses")->tensor.numel();
  ASSERT_EQ(steps, 20);
  const int64_t batch = traj->at("batch_size")->as_int();
  ASSERT_EQ(batch, 64);
  EXPECT_DOUBLE_EQ(traj->at("lr")->as_number(), 1e-3);

  nn::FashionClassifier model(0.0);
  model.load_state_dict(nn::state_dict_from_value(io::load(kData + "fashion_init_state_dict.pt")));
  optim::AdamOptions opts;
  opts.lr = traj->at("lr")->as_number();
  optim::Adam opt(model.parameters(), opts);

  const auto expected = traj->at("losses")->tensor.to_vector();
  for (int64_t s = 0; s < steps; ++s) {
    io::Dataset b = train.slice(s * batch, batch);
    Tensor loss = nn::functional::cross_entropy(model(b.images), b.labels);
    EXPECT_NEAR(loss.item(), expected[s], 1e-4 * expected[s]) << "step " << s;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const nn::StateDict final_sd = nn::state_dict_from_value(traj->at("final_state_dict"));
  for (const auto& [key, t] : model.state_dict()) {
    const Tensor& want = final_sd.at(key);
    EXPECT_TRUE(allclose(t, want, 1e-4, 1e-4)) << key << " max rel diff " << max_rel_diff(t, want);
  }
  // The optimizer state PyTorch saved after the same steps matches ours.
  const io::ValuePtr their_opt = traj->at("optimizer");
  const io::ValuePtr our_opt = opt.state_dict();
  for (int64_t i = 0; i < 10; ++i) {
    io::ValuePtr theirs, ours;
    for (auto& [k, v] : their_opt->at("state")->entries)
      if (k->as_int() == i) theirs = v;
    for (auto& [k, v] : our_opt->at("state")->entries)
      if (k->as_int() == i) ours = v;
    ASSERT_TRUE(theirs && ours) << "param " << i;
    EXPECT_EQ(theirs->at("step")->tensor.item(), ours->at("step")->tensor.item());
    EXPECT_LT(rel_norm_diff(ours->at("exp_avg")->tensor, theirs->at("exp_avg")->tensor), 1e-3) << "exp_avg " << i;
    EXPECT_LT(rel_norm_diff(ours->at("exp_avg_sq")->tensor, theirs->at("exp_avg_sq")->tensor), 1e-3)
        << "exp_avg_sq " << i;
  }
}
