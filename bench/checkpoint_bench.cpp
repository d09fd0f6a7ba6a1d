// Checkpoint save/load throughput: a 1 GiB state dict (16 float32 tensors of
// 4096x4096) written with torchless's torch.save and read back, copying or
// mmap'd. The file lives in TORCHLESS_BENCH_DIR (default /dev/shm, i.e. the
// page cache), as in bench/compare_torch_io.
//   ./build/bench/checkpoint_bench [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/ops.h"
#include "io/torch_load.h"
#include "io/torch_save.h"

using namespace torchless;

namespace {

std::string bench_path(const char* name) {
  const char* dir = std::getenv("TORCHLESS_BENCH_DIR");
  return std::string(dir ? dir : "/dev/shm") + "/" + name;
}

// Always 16 square float32 tensors, so that sizes differ only in bytes: 1 GiB
// is the 16 x 4096x4096; 256 MiB is 16 x 2048x2048.
constexpr int64_t kTensors = 16;

int64_t side_of(int64_t mib) {
  int64_t side = 1;
  while (side * side * 4 * kTensors < (mib << 20)) side *= 2;
  return side;
}

io::ValuePtr make_state_dict(int64_t mib) {
  auto d = io::Value::dict("collections.OrderedDict");
  const int64_t side = side_of(mib);
  for (int64_t i = 0; i < kTensors; ++i) {
    Tensor t = full({side, side}, static_cast<double>(i));
    d->set("layer" + std::to_string(i) + ".weight", io::Value::from_tensor(t));
  }
  return d;
}

void BM_Save(benchmark::State& state) {
  set_num_threads(std::max(1, std::atoi(std::getenv("TORCHLESS_THREADS") ? std::getenv("TORCHLESS_THREADS") : "2")));
  const io::ValuePtr sd = make_state_dict(state.range(0));
  const std::string path = bench_path("torchless_bench_save.pt");
  for (auto _ : state) io::save(sd, path);
  state.SetBytesProcessed(state.iterations() * (state.range(0) << 20));
  std::remove(path.c_str());
}

// What the kernel allows, for comparison with BM_Save: `threads` threads
// pwrite one buffer's 8 MiB chunks into a file, nothing else (no pickling,
// no CRC, no fsync, no rename). overwrite = 0: a new file each time, as an
// atomic save must write (tmpfs allocates every page); 1: the same file's
// existing pages again.
void BM_PageCacheWrite(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  const int threads = static_cast<int>(state.range(1));
  const bool overwrite = state.range(2) != 0;
  constexpr size_t kChunk = size_t{8} << 20;
  std::vector<char> src(bytes, 1);
  const std::string path = bench_path("torchless_bench_ceiling.bin");
  auto write_all = [&] {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | (overwrite ? 0 : O_TRUNC), 0644);
    if (fd < 0) {
      state.SkipWithError(("cannot open " + path + ": " + std::strerror(errno)).c_str());
      return;
    }
    std::vector<std::thread> team;
    for (int t = 0; t < threads; ++t)
      team.emplace_back([&, t] {
        for (size_t off = t * kChunk; off < bytes; off += threads * kChunk)
          if (::pwrite(fd, src.data() + off, std::min(kChunk, bytes - off), static_cast<off_t>(off)) < 0) return;
      });
    for (auto& th : team) th.join();
    ::close(fd);
  };
  if (overwrite) write_all();  // the pages exist before timing starts
  for (auto _ : state) {
    if (!overwrite) {
      state.PauseTiming();  // freeing the last file's pages is not writing
      ::unlink(path.c_str());
      state.ResumeTiming();
    }
    write_all();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  ::unlink(path.c_str());
}

void BM_Load(benchmark::State& state) {
  set_num_threads(std::max(1, std::atoi(std::getenv("TORCHLESS_THREADS") ? std::getenv("TORCHLESS_THREADS") : "2")));
  const bool mmap = state.range(1) != 0;
  const std::string path = bench_path(mmap ? "torchless_bench_mmap.pt" : "torchless_bench_load.pt");
  io::save(make_state_dict(state.range(0)), path);
  io::LoadOptions opt;
  opt.mmap = mmap;
  for (auto _ : state) {
    io::Checkpoint ck = io::load_checkpoint(path, opt);
    benchmark::DoNotOptimize(ck.root.get());
  }
  state.SetBytesProcessed(state.iterations() * (state.range(0) << 20));
  std::remove(path.c_str());
}

}  // namespace

// Sizes in MiB; 1024 is the 1 GiB case. mmap loads of the same 16
// tensors at three sizes show that their time does not grow with the file.
BENCHMARK(BM_Save)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PageCacheWrite)
    ->Args({1024, 1, 0})
    ->Args({1024, 2, 0})
    ->Args({1024, 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Load)->Args({1024, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Load)->Args({64, 1})->Args({256, 1})->Args({1024, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
