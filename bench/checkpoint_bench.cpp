// Checkpoint save/load throughput: a 1 GiB state dict (16 float32 tensors of
// 4096x4096) written with torchless's torch.save and read back, copying or
// mmap'd. The file lives in TORCHLESS_BENCH_DIR (default /dev/shm, i.e. the
// page cache), as in bench/compare_torch_io.
//   ./build/bench/checkpoint_bench [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "core/ops.h"
#include "io/torch_load.h"
#include "io/torch_save.h"

using namespace torchless;

namespace {

std::string bench_path(const char* name) {
  const char* dir = std::getenv("TORCHLESS_BENCH_DIR");
  return std::string(dir ? dir : "/dev/shm") + "/" + name;
}

int64_t tensors_of(int64_t mib) { return mib / 64; }  // each 4096x4096 float32 is 64 MiB

io::ValuePtr make_state_dict(int64_t n) {
  auto d = io::Value::dict("collections.OrderedDict");
  for (int64_t i = 0; i < n; ++i) {
    Tensor t = full({4096, 4096}, static_cast<double>(i));
    d->set("layer" + std::to_string(i) + ".weight", io::Value::from_tensor(t));
  }
  return d;
}

void BM_Save(benchmark::State& state) {
  set_num_threads(std::max(1, std::atoi(std::getenv("TORCHLESS_THREADS") ? std::getenv("TORCHLESS_THREADS") : "2")));
  const int64_t n = tensors_of(state.range(0));
  const io::ValuePtr sd = make_state_dict(n);
  const std::string path = bench_path("torchless_bench_save.pt");
  for (auto _ : state) io::save(sd, path);
  state.SetBytesProcessed(state.iterations() * n * (int64_t{64} << 20));
  std::remove(path.c_str());
}

void BM_Load(benchmark::State& state) {
  set_num_threads(std::max(1, std::atoi(std::getenv("TORCHLESS_THREADS") ? std::getenv("TORCHLESS_THREADS") : "2")));
  const int64_t n = tensors_of(state.range(0));
  const bool mmap = state.range(1) != 0;
  const std::string path = bench_path(mmap ? "torchless_bench_mmap.pt" : "torchless_bench_load.pt");
  io::save(make_state_dict(n), path);
  io::LoadOptions opt;
  opt.mmap = mmap;
  for (auto _ : state) {
    io::Checkpoint ck = io::load_checkpoint(path, opt);
    benchmark::DoNotOptimize(ck.root.get());
  }
  state.SetBytesProcessed(state.iterations() * n * (int64_t{64} << 20));
  std::remove(path.c_str());
}

}  // namespace

// Sizes in MiB; 1024 is the 1 GiB case. mmap loads at two sizes show
// their time does not grow with the file.
BENCHMARK(BM_Save)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Load)->Args({1024, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Load)->Args({256, 1})->Args({1024, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
