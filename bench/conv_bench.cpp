// Conv2d and the CNN's training step: each convolution's forward and
// backward against the GEMMs alone on the same [OC, C*KH*KW] x
// [C*KH*KW, N*OH*OW] products, so the cost of im2col, col2im and the layout
// copies shows as a fraction of the GEMM's speed.
//   ./build/bench/conv_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include "core/cpu/gemm.h"
#include "core/generator.h"
#include "core/ops.h"
#include "nn/functional.h"
#include "nn/model_spec.h"
#include "optim/adam.h"

using namespace torchless;
namespace F = torchless::nn::functional;

namespace {

// The README's CNN on Fashion-MNIST, batch 64: conv1 1->16 on 28x28, conv2 16->32 on 14x14.
struct ConvShape { int64_t C, OC, HW; };
const ConvShape kShapes[] = {{1, 16, 28}, {16, 32, 14}};
constexpr int64_t kBatch = 64;

double conv_flops(const ConvShape& s) { return 2.0 * kBatch * s.HW * s.HW * s.C * 9 * s.OC; }

void BM_Conv2dForward(benchmark::State& st) {
  const ConvShape s = kShapes[st.range(0)];
  Generator g(1);
  Tensor x = randn({kBatch, s.C, s.HW, s.HW}, DType::Float32, &g), w = randn({s.OC, s.C, 3, 3}, DType::Float32, &g),
         b = randn({s.OC}, DType::Float32, &g);
  for (auto _ : st) benchmark::DoNotOptimize(F::conv2d(x, w, b, {1, 1}, {1, 1}));
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Conv2dForwardBackward(benchmark::State& st) {
  const ConvShape s = kShapes[st.range(0)];
  Generator g(1);
  Tensor x = randn({kBatch, s.C, s.HW, s.HW}, DType::Float32, &g).set_requires_grad(true);
  Tensor w = randn({s.OC, s.C, 3, 3}, DType::Float32, &g).set_requires_grad(true);
  Tensor b = randn({s.OC}, DType::Float32, &g).set_requires_grad(true);
  const Tensor up = randn({kBatch, s.OC, s.HW, s.HW}, DType::Float32, &g);
  for (auto _ : st) {
    Tensor y = F::conv2d(x, w, b, {1, 1}, {1, 1});
    y.backward(up);
  }
  st.counters["GFLOP/s"] = benchmark::Counter(3 * conv_flops(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The GEMMs of a convolution in conv2d's layout (patches [C*9, N*OH*OW]),
// nothing else: range(1) 0 for the forward's one, 1 for all three of
// forward + backward.
void BM_GemmOfConv(benchmark::State& st) {
  const bool backward = st.range(1) != 0;
  const ConvShape s = kShapes[st.range(0)];
  const int64_t NP = kBatch * s.HW * s.HW, K = s.C * 9;
  Generator g(1);
  Tensor cols = randn({K, NP}, DType::Float32, &g), w = randn({s.OC, K}, DType::Float32, &g);
  Tensor y = empty({s.OC, NP}), G = randn({s.OC, NP}, DType::Float32, &g), dcols = empty({K, NP}), dw = empty({s.OC, K});
  for (auto _ : st) {
    cpu::gemm(w, cols, y);
    if (!backward) continue;
    cpu::gemm(w.t(), G, dcols);
    cpu::gemm(G, cols.t(), dw);
  }
  st.counters["GFLOP/s"] =
      benchmark::Counter((backward ? 3 : 1) * conv_flops(s) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MaxPool2dForwardBackward(benchmark::State& st) {
  const ConvShape s = kShapes[st.range(0)];
  Generator g(1);
  Tensor x = randn({kBatch, s.OC, s.HW, s.HW}, DType::Float32, &g).set_requires_grad(true);
  const Tensor up = randn({kBatch, s.OC, s.HW / 2, s.HW / 2}, DType::Float32, &g);
  for (auto _ : st) {
    Tensor y = F::max_pool2d(x, {2, 2}, {2, 2});
    if (st.range(1)) y.backward(up);
  }
  st.counters["MB/s"] = benchmark::Counter(x.nbytes() * 1e-6, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_CnnTrainStep(benchmark::State& st) {
  Generator g(1);
  auto model = nn::parse_model_spec(
      "Conv2d(1, 16, 3, padding=1) ReLU MaxPool2d(2) Conv2d(16, 32, 3, padding=1) ReLU MaxPool2d(2) Flatten "
      "Linear(1568, 128) ReLU Linear(128, 10)",
      &g);
  optim::Adam opt(model->parameters());
  const int64_t B = st.range(0);
  Tensor x = randn({B, 1, 28, 28}, DType::Float32, &g);
  Tensor y = randperm(B, &g);
  for (int64_t i = 0; i < B; ++i) y.data_ptr<int64_t>()[i] %= 10;
  for (auto _ : st) {
    Tensor loss = F::cross_entropy((*model)(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  st.counters["samples/s"] = benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_Conv2dForward)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_Conv2dForwardBackward)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_GemmOfConv)->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1})->UseRealTime();
BENCHMARK(BM_MaxPool2dForwardBackward)->Args({0, 0})->Args({0, 1})->Args({1, 1})->UseRealTime();
BENCHMARK(BM_CnnTrainStep)->Arg(64)->UseRealTime();

BENCHMARK_MAIN();
