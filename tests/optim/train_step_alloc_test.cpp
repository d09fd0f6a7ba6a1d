// After the first steps, a training step must get every buffer from the CPU
// block cache: no malloc (and so no mmap/munmap) per step on the hot path.
#include <gtest/gtest.h>

#include "core/generator.h"
#include "core/ops.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "nn/model_spec.h"
#include "optim/adam.h"

using namespace torchless;

namespace {

// Trains `model` on one fixed batch of x's first dim (labels i % 10): two
// steps size the cache, five more must allocate nothing from the system and
// reuse dozens of buffers each, while the loss still falls.
template <class Model> void expect_steady_state(Model& model, const Tensor& x) {
  optim::Adam opt(model.parameters());
  const int64_t batch = x.size(0);
  Tensor y = empty({batch}, DType::Int64);
  for (int64_t i = 0; i < batch; ++i) y.data_ptr<int64_t>()[i] = i % 10;
  auto step = [&] {
    Tensor loss = nn::functional::cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();
  };
  const double first = step();
  step();
  const CpuCacheStats before = cpu_cache_stats();
  double last = 0;
  for (int i = 0; i < 5; ++i) last = step();
  const CpuCacheStats after = cpu_cache_stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
  EXPECT_GT(after.reuses, before.reuses + 5 * 20);
  EXPECT_LT(last, first);  // and it is really training
}

}  // namespace

TEST(TrainStep, NoSystemAllocationInSteadyState) {
  Generator gen(0);
  nn::FashionClassifier model(0.2, &gen);
  expect_steady_state(model, randn({64, 784}, DType::Float32, &gen));
}

// The same for a CNN of every image layer: convolution patches, pooling
// indices, BatchNorm's statistics and the layout copies all come from the
// cache once the first steps have sized it.
TEST(TrainStep, CnnNoSystemAllocationInSteadyState) {
  Generator gen(0);
  auto model = nn::parse_model_spec(
      "Conv2d(1, 8, 3, padding=1) BatchNorm2d(8) ReLU MaxPool2d(2) Conv2d(8, 16, 3, padding=1, groups=2) ReLU "
      "AvgPool2d(2) Dropout(0.2) AdaptiveAvgPool2d(1) Flatten Linear(16, 10)",
      &gen);
  expect_steady_state(*model, randn({32, 1, 28, 28}, DType::Float32, &gen));
}
