// After the first step, a training step must get every buffer from the CPU
// block cache: no malloc (and so no mmap/munmap) per step on the hot path.
#include <gtest/gtest.h>

#include "core/generator.h"
#include "core/ops.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "optim/adam.h"

using namespace torchless;

TEST(TrainStep, NoSystemAllocationInSteadyState) {
  Generator gen(0);
  nn::FashionClassifier model(0.2, &gen);
  optim::Adam opt(model.parameters());
  Tensor x = randn({64, 784}, DType::Float32, &gen);
  Tensor y = empty({64}, DType::Int64);
  for (int64_t i = 0; i < 64; ++i) y.data_ptr<int64_t>()[i] = i % 10;
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
  EXPECT_GT(after.reuses, before.reuses + 5 * 20);  // every step allocates dozens of buffers, all reused
  EXPECT_LT(last, first);                            // and it is really training
}
