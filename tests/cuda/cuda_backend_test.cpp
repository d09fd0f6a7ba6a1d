// The CUDA backend (cuda/): allocation, copies, Tensor::to, the caching
// allocator and checkpoints on a device. Everything but the first test needs
// a GPU and reports "skipped: no CUDA device" without one.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/ops.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "io/value.h"
#ifdef TORCHLESS_TEST_CUDA_BACKEND
#include "cuda/allocator.h"
#endif
#include "support/cuda_skip.h"

using namespace torchless;
namespace fs = std::filesystem;

namespace {

const DType kAllDTypes[] = {DType::Float32, DType::Float64,   DType::Float16,    DType::BFloat16,
                            DType::Int8,    DType::Int16,     DType::Int32,      DType::Int64,
                            DType::UInt8,   DType::Bool,      DType::Complex64,  DType::Complex128,
                            DType::Float8_e4m3fn, DType::Float8_e5m2};

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("torchless_cuda_" + std::to_string(getpid()) + "_" + name)).string();
}

Tensor on_cpu(const Tensor& t) { return t.to(Device::cpu()); }

}  // namespace

// Runs everywhere: without a device (or without the backend) CUDA requests
// fail with an error that says which.
TEST(CudaBackend, RequestWithoutDeviceThrowsClearly) {
  if (cuda_built() && cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const std::string expected = cuda_built() ? "no CUDA device" : "built without CUDA";
  try {
    Storage::allocate(64, Device::cuda(0));
    ADD_FAILURE() << "allocating on cuda:0 did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  try {
    from_vector(std::vector<double>{1, 2, 3}, {3}).to(Device::cuda(0));
    ADD_FAILURE() << "Tensor::to(cuda:0) did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
  EXPECT_EQ(cuda_device_count(), 0);
  const std::string summary = cuda_summary();
  if (cuda_built()) {
    EXPECT_NE(summary.find("toolkit "), std::string::npos) << summary;
    EXPECT_NE(summary.find("cuBLAS "), std::string::npos) << summary;
    EXPECT_NE(summary.find("no CUDA device ("), std::string::npos) << summary;
  } else {
    EXPECT_EQ(summary, "not built");
  }
}

TEST(CudaBackend, SummaryNamesDevices) {
  REQUIRE_CUDA_DEVICE();
  const std::string summary = cuda_summary();
  EXPECT_NE(summary.find("devices: cuda:0 "), std::string::npos) << summary;
  EXPECT_NE(summary.find("(sm_"), std::string::npos) << summary;
}

TEST(CudaBackend, DeviceIndexOutOfRangeThrows) {
  REQUIRE_CUDA_DEVICE();
  const int n = cuda_device_count();
  try {
    Storage::allocate(64, Device::cuda(n));
    ADD_FAILURE() << "allocating on cuda:" << n << " did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:" + std::to_string(n)), std::string::npos) << e.what();
  }
}

TEST(CudaBackend, BytesRoundTripEveryDType) {
  REQUIRE_CUDA_DEVICE();
  for (DType t : kAllDTypes) {
    const size_t n = 1001 * element_size(t);
    std::vector<unsigned char> src(n), back(n, 0);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>((i * 131 + 7) % 251);
    if (t == DType::Bool)
      for (auto& b : src) b &= 1;
    Storage a = Storage::allocate(n, Device::cuda(0));
    Storage b = Storage::allocate(n, Device::cuda(0));
    EXPECT_EQ(a.device(), Device::cuda(0));
    copy_bytes(a.data(), a.device(), src.data(), Device::cpu(), n);
    copy_bytes(b.data(), b.device(), a.data(), a.device(), n);  // device to device
    copy_bytes(back.data(), Device::cpu(), b.data(), b.device(), n);
    EXPECT_EQ(std::memcmp(src.data(), back.data(), n), 0) << dtype_name(t);
  }
  // An empty storage is fine too.
  Storage e = Storage::allocate(0, Device::cuda(0));
  EXPECT_EQ(e.nbytes(), 0u);
}

TEST(CudaBackend, TensorToDeviceAndBack) {
  REQUIRE_CUDA_DEVICE();
  std::vector<double> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 1.5 - 7;
  for (DType t : {DType::Float32, DType::Float64, DType::Int64, DType::Float16}) {
    const Tensor a = from_vector(v, {4, 6}, t);
    const Tensor d = a.to(Device::cuda(0));
    EXPECT_EQ(d.device(), Device::cuda(0));
    EXPECT_TRUE(equal(on_cpu(d), a)) << dtype_name(t);
    // Non-contiguous sources on the CPU...
    for (const Tensor& view : {a.t(), a.slice(1, 1, 6, 2), a.select(1, 3), a.narrow(0, 1, 2).t()}) {
      const Tensor dv = view.to(Device::cuda(0));
      EXPECT_EQ(dv.device(), Device::cuda(0));
      EXPECT_TRUE(equal(on_cpu(dv), view)) << dtype_name(t);
    }
    // ...and on the device.
    for (const Tensor& dview : {d.t(), d.slice(1, 1, 6, 2), d.select(1, 3), d.narrow(0, 1, 2).t()}) {
      EXPECT_FALSE(dview.is_contiguous());
      EXPECT_TRUE(equal(on_cpu(dview), on_cpu(dview.contiguous()))) << dtype_name(t);
    }
    EXPECT_TRUE(equal(on_cpu(d.t()), a.t())) << dtype_name(t);
    // copy_ into a device view keeps the elements around it.
    Tensor z = zeros({4, 6}, t, Device::cuda(0));
    z.slice(1, 0, 6, 2).copy_(a.slice(1, 0, 6, 2));
    Tensor expect = zeros({4, 6}, t);
    expect.slice(1, 0, 6, 2).copy_(a.slice(1, 0, 6, 2));
    EXPECT_TRUE(equal(on_cpu(z), expect)) << dtype_name(t);
    // Across dtypes.
    Tensor f = empty({6, 4}, DType::Float64, Device::cuda(0));
    f.copy_(d.t());
    EXPECT_TRUE(equal(on_cpu(f), a.t().to(DType::Float64))) << dtype_name(t);
  }
}

#ifdef TORCHLESS_TEST_CUDA_BACKEND
TEST(CudaBackend, AllocatorReusesFreedBlocks) {
  REQUIRE_CUDA_DEVICE();
  const size_t sizes[] = {4096, 12345, 1 << 20, 3};
  // One "step" allocates some sizes, frees them; later steps reuse the blocks.
  auto step = [&] {
    std::vector<Storage> live;
    for (size_t n : sizes) live.push_back(Storage::allocate(n, Device::cuda(0)));
  };
  step();
  const CudaAllocatorStats after_first = cuda_allocator_stats();
  for (int i = 0; i < 5; ++i) step();
  const CudaAllocatorStats after = cuda_allocator_stats();
  EXPECT_EQ(after.cuda_mallocs, after_first.cuda_mallocs);
  EXPECT_EQ(after.cuda_frees, after_first.cuda_frees);
  EXPECT_GE(after.cache_hits, after_first.cache_hits + 5 * std::size(sizes));

  void* first = nullptr;
  {
    Storage s = Storage::allocate(777, Device::cuda(0));
    first = s.data();
  }
  const uint64_t mallocs = cuda_allocator_stats().cuda_mallocs;
  {
    Storage s = Storage::allocate(777, Device::cuda(0));
    EXPECT_EQ(s.data(), first);
  }
  EXPECT_EQ(cuda_allocator_stats().cuda_mallocs, mallocs);
  EXPECT_GT(cuda_allocator_stats().bytes_cached, 0u);

  empty_cuda_cache();
  const CudaAllocatorStats emptied = cuda_allocator_stats();
  EXPECT_EQ(emptied.bytes_cached, 0u);
  EXPECT_EQ(emptied.blocks_cached, 0u);
  EXPECT_GT(emptied.cuda_frees, after.cuda_frees);
  // Still usable after emptying.
  Storage s = Storage::allocate(777, Device::cuda(0));
  EXPECT_NE(s.data(), nullptr);
  EXPECT_EQ(cuda_allocator_stats().cuda_mallocs, emptied.cuda_mallocs + 1);
}

TEST(CudaBackend, OutOfMemoryNamesSizeAndDevice) {
  REQUIRE_CUDA_DEVICE();
  const size_t huge = size_t{1} << 50;  // 1 PiB
  try {
    Storage::allocate(huge, Device::cuda(0));
    ADD_FAILURE() << "allocating 1 PiB did not throw";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(huge)), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda:0"), std::string::npos) << msg;
  }
  // The failure left the runtime usable.
  EXPECT_TRUE(equal(on_cpu(from_vector(std::vector<double>{1, 2}, {2}).to(Device::cuda(0))), from_vector(std::vector<double>{1, 2}, {2})));
}
#endif

TEST(CudaBackend, CheckpointOfDeviceTensors) {
  REQUIRE_CUDA_DEVICE();
  const Tensor w = from_vector(std::vector<double>{1, -2, 3.5, 4, 5, 6}, {2, 3});
  const Tensor wd = w.to(Device::cuda(0));
  auto root = io::Value::dict();
  root->set("w", io::Value::from_tensor(wd));
  root->set("wt", io::Value::from_tensor(wd.t()));  // a view of the same storage
  root->set("host", io::Value::from_tensor(from_vector(std::vector<double>{9}, {1})));
  const std::string path = temp_path("ckpt.pt");
  io::save(root, path);

  const io::Checkpoint ck = io::load_checkpoint(path);
  ASSERT_EQ(ck.storages.size(), 2u);
  for (const auto& s : ck.storages) {
    EXPECT_TRUE(s.location == "cuda:0" || s.location == "cpu") << s.location;
    EXPECT_EQ(s.device.str(), s.location);
  }
  EXPECT_EQ(ck.storages[0].location, "cuda:0");
  const Tensor w1 = ck.root->at("w")->tensor, wt1 = ck.root->at("wt")->tensor;
  EXPECT_EQ(w1.device(), Device::cuda(0));
  EXPECT_EQ(w1.storage().id(), wt1.storage().id());
  EXPECT_TRUE(equal(on_cpu(w1), w));
  EXPECT_TRUE(equal(on_cpu(wt1), w.t()));
  EXPECT_TRUE(ck.root->at("host")->tensor.device().is_cpu());

  io::LoadOptions cpu;
  cpu.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint ck2 = io::load_checkpoint(path, cpu);
  EXPECT_EQ(ck2.storages[0].location, "cuda:0");
  EXPECT_TRUE(ck2.storages[0].device.is_cpu());
  EXPECT_TRUE(ck2.root->at("w")->tensor.device().is_cpu());
  EXPECT_TRUE(equal(ck2.root->at("w")->tensor, w));
  EXPECT_TRUE(equal(ck2.root->at("wt")->tensor, w.t()));
  fs::remove(path);
}

TEST(CudaBackend, TorchCudaCheckpointLoadsOntoDevice) {
  REQUIRE_CUDA_DEVICE();
  const std::string path = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11/fashion_checkpoint_cuda.pt";
  const io::Checkpoint ck = io::load_checkpoint(path);
  io::LoadOptions cpu;
  cpu.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint host = io::load_checkpoint(path, cpu);
  ASSERT_EQ(ck.storages.size(), host.storages.size());
  int on_cuda = 0;
  for (const auto& s : ck.storages) {
    EXPECT_EQ(s.device.str(), s.location) << s.key;
    on_cuda += s.device.is_cuda();
  }
  EXPECT_EQ(on_cuda, 30);
  const io::ValuePtr sd = ck.root->at("state_dict"), sd_host = host.root->at("state_dict");
  for (const char* key : {"fc1.weight", "fc1.bias", "fc5.weight"}) {
    const Tensor t = sd->at(key)->tensor;
    EXPECT_EQ(t.device(), Device::cuda(0)) << key;
    EXPECT_TRUE(equal(on_cpu(t), sd_host->at(key)->tensor)) << key;
  }
}
