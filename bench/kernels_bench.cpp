// Kernel and training-step benchmarks for the Fashion-MNIST MLP's shapes.
//   ./build/bench/kernels_bench [--benchmark_filter=...]
// Threads: TORCHLESS_THREADS (default 1), so results compare with PyTorch
// run at the same thread count.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdlib>

#include "core/generator.h"
#include "core/ops.h"
#include "io/fashion_mnist.h"
#include "nn/fashion_classifier.h"
#include "nn/functional.h"
#include "optim/adam.h"

using namespace torchless;

namespace {

int threads() {
  const char* t = std::getenv("TORCHLESS_THREADS");
  return t ? std::atoi(t) : 1;
}

// The layer shapes of 784-512-256-128-64-10: (in, out).
constexpr int64_t kLayers[][2] = {{784, 512}, {512, 256}, {256, 128}, {128, 64}, {64, 10}};

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

// y = x @ W^T + b   x: [B, in]  W: [out, in]
void BM_LinearForward(benchmark::State& state) {
  set_num_threads(threads());
  const int64_t B = state.range(0), in = state.range(1), out = state.range(2);
  Tensor x = randn({B, in}), w = randn({out, in}), b = randn({out});
  for (auto _ : state) benchmark::DoNotOptimize(linear(x, w, b).raw_data());
  set_flops(state, 2.0 * B * in * out);
}

// dW = g^T @ x   g: [B, out]  x: [B, in]
void BM_LinearWeightGrad(benchmark::State& state) {
  set_num_threads(threads());
  const int64_t B = state.range(0), in = state.range(1), out = state.range(2);
  Tensor x = randn({B, in}), g = randn({B, out});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(g.t(), x).raw_data());
  set_flops(state, 2.0 * B * in * out);
}

// dx = g @ W   g: [B, out]  W: [out, in]
void BM_LinearInputGrad(benchmark::State& state) {
  set_num_threads(threads());
  const int64_t B = state.range(0), in = state.range(1), out = state.range(2);
  Tensor g = randn({B, out}), w = randn({out, in});
  for (auto _ : state) benchmark::DoNotOptimize(matmul(g, w).raw_data());
  set_flops(state, 2.0 * B * in * out);
}

// The same product as BM_LinearForward without the bias, by Eigen's GEMM on
// one thread: the yardstick for core/cpu/sgemm_avx512.cpp, which replaced it
// for float32 (compare with TORCHLESS_THREADS=1).
void BM_EigenGemmXWt(benchmark::State& state) {
  Eigen::setNbThreads(1);
  const int64_t B = state.range(0), in = state.range(1), out = state.range(2);
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajor x = RowMajor::Random(B, in), w = RowMajor::Random(out, in), y(B, out);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
  }
  set_flops(state, 2.0 * B * in * out);
}

void gemm_args(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {64, 256, 1024})
    for (const auto& l : kLayers) b->Args({batch, l[0], l[1]});
}

void BM_Relu(benchmark::State& state) {
  Tensor x = randn({state.range(0), 512});
  for (auto _ : state) benchmark::DoNotOptimize(relu(x).raw_data());
  state.SetBytesProcessed(state.iterations() * x.nbytes() * 2);
}

void BM_AddBroadcast(benchmark::State& state) {
  Tensor x = randn({state.range(0), 512}), b = randn({512});
  for (auto _ : state) benchmark::DoNotOptimize(add(x, b).raw_data());
  state.SetBytesProcessed(state.iterations() * x.nbytes() * 2);
}

void BM_Dropout(benchmark::State& state) {
  Generator gen(0);
  Tensor x = randn({state.range(0), 512});
  for (auto _ : state) benchmark::DoNotOptimize(nn::functional::dropout(x, 0.2, true, &gen).raw_data());
  state.SetBytesProcessed(state.iterations() * x.nbytes() * 2);
}

void BM_CrossEntropy(benchmark::State& state) {
  const int64_t B = state.range(0);
  Tensor logits = randn({B, 10});
  Tensor t = empty({B}, DType::Int64);
  for (int64_t i = 0; i < B; ++i) t.data_ptr<int64_t>()[i] = i % 10;
  for (auto _ : state) benchmark::DoNotOptimize(nn::functional::cross_entropy(logits, t).raw_data());
}

void BM_AdamStep(benchmark::State& state) {
  set_num_threads(threads());
  nn::FashionClassifier model(0.2);
  for (auto& p : model.parameters()) p.set_grad(randn(p.sizes()));
  optim::Adam opt(model.parameters());
  for (auto _ : state) opt.step();
  state.SetBytesProcessed(state.iterations() * 575050 * 4 * 7);  // p, g, m, v read; p, m, v written
}

// forward + cross-entropy + backward + Adam on random data of the real shape.
// Denormals are flushed: without that, Adam's state for the weights of dead
// units turns denormal after ~700 steps, and on Intel cores the step time
// then depends on how many iterations the benchmark happened to run
// (0.86 ms at batch 64 for the first few hundred steps, 1.43 ms after).
// compare_torch measures training in the default IEEE mode, per epoch.
// The machine's float FMA peak, the ceiling every GEMM figure is read
// against: 24 independent 16-float FMA chains per thread (enough to cover
// the FMA latency on two ports), range(0) OpenMP threads.
void BM_FmaPeak(benchmark::State& state) {
  typedef float v16 __attribute__((vector_size(64)));
  constexpr int kChains = 24;
  constexpr int64_t kSteps = 1 << 16;
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      v16 acc[kChains], m, a;
      for (int i = 0; i < 16; ++i) m[i] = 0.999999f, a[i] = 1e-7f;
      for (int c = 0; c < kChains; ++c) acc[c] = m * static_cast<float>(c);
      for (int64_t s = 0; s < kSteps; ++s) {
#pragma GCC unroll 24  // unrolled, the chains live in registers, not on the stack
        for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * m + a;
        asm volatile("" : "+v"(m), "+v"(a));  // operands in registers, not constants to fold
      }
      float sum = 0;
      for (int c = 0; c < kChains; ++c) sum += acc[c][0];
      benchmark::DoNotOptimize(sum);
    }
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 16 * kChains * kSteps * threads * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainStep(benchmark::State& state) {
  set_num_threads(threads());
  set_flush_denormal(true);
  const int64_t B = state.range(0);
  Generator gen(0);
  nn::FashionClassifier model(0.2, &gen);
  optim::Adam opt(model.parameters());
  Tensor x = randn({B, 784});
  Tensor y = empty({B}, DType::Int64);
  for (int64_t i = 0; i < B; ++i) y.data_ptr<int64_t>()[i] = i % 10;
  for (auto _ : state) {
    Tensor loss = nn::functional::cross_entropy(model(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  set_flush_denormal(false);
  state.SetItemsProcessed(state.iterations() * B);
  // fwd 2*MACs, bwd: dW for every layer, dx for all but the first.
  set_flops(state, 2.0 * B * 575050 * 3 - 2.0 * B * 784 * 512);
}

}  // namespace

BENCHMARK(BM_LinearForward)->Apply(gemm_args);
BENCHMARK(BM_EigenGemmXWt)->Apply(gemm_args);
BENCHMARK(BM_LinearWeightGrad)->Apply(gemm_args);
BENCHMARK(BM_LinearInputGrad)->Apply(gemm_args);
BENCHMARK(BM_Relu)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_AddBroadcast)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_Dropout)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_CrossEntropy)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_AdamStep);
BENCHMARK(BM_FmaPeak)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_TrainStep)->Arg(64)->Arg(256)->Arg(1024)->UseRealTime();

BENCHMARK_MAIN();
