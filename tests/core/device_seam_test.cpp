// Core's device seam (core/storage.h: DeviceAllocator) with a fake device
// whose "device memory" is host memory: Tensor::to, copy_, fill_ and
// checkpoints of device tensors, including views, without a GPU. The fake
// checks every copy stays inside blocks it handed out.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/storage.h"
#include "core/tensor.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "io/value.h"
#include "nn/linear.h"
#include "optim/adam.h"
#include "optim/to_device.h"

using namespace torchless;

namespace {

std::mutex g_mu;
std::map<const char*, size_t> g_blocks;  // fake device blocks: start -> size
int g_allocs = 0;

void* fake_alloc(size_t n, int device) {
  EXPECT_EQ(device, 0);
  char* p = static_cast<char*>(std::malloc(n ? n : 1));
  std::memset(p, 0xAB, n);
  std::lock_guard lock(g_mu);
  g_blocks[p] = n;
  ++g_allocs;
  return p;
}

void fake_free(void* p, size_t n, int) {
  {
    std::lock_guard lock(g_mu);
    auto it = g_blocks.find(static_cast<const char*>(p));
    EXPECT_TRUE(it != g_blocks.end() && it->second == n);
    if (it != g_blocks.end()) g_blocks.erase(it);
  }
  std::free(p);
}

// [p, p+n) lies inside one fake block.
bool inside_block(const void* p, size_t n) {
  std::lock_guard lock(g_mu);
  const char* c = static_cast<const char*>(p);
  auto it = g_blocks.upper_bound(c);
  if (it == g_blocks.begin()) return false;
  --it;
  return c >= it->first && c + n <= it->first + it->second;
}

void fake_copy(void* dst, Device dd, const void* src, Device sd, size_t n) {
  if (dd.is_cuda()) {
    EXPECT_TRUE(inside_block(dst, n)) << "copy to outside a device block";
  }
  if (sd.is_cuda()) {
    EXPECT_TRUE(inside_block(src, n)) << "copy from outside a device block";
  }
  std::memmove(dst, src, n);
}

int fake_count() { return 1; }
std::string fake_summary() { return "fake"; }

class DeviceSeam : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Let a built-in CUDA backend register itself first, then replace it.
    (void)cuda_allocator();
    DeviceAllocator a;
    a.alloc = fake_alloc;
    a.free = fake_free;
    a.copy = fake_copy;
    a.device_count = fake_count;
    a.summary = fake_summary;
    register_cuda_allocator(a);
  }
};

const Device kDev = Device::cuda(0);

Tensor grid(DType t = DType::Float32) {
  std::vector<double> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 1.5 - 7;
  return from_vector(v, {4, 6}, t);
}

}  // namespace

TEST_F(DeviceSeam, RegisteredBackendIsUsed) {
  EXPECT_EQ(cuda_device_count(), 1);
  EXPECT_EQ(cuda_summary(), "fake");
  const int before = g_allocs;
  Storage s = Storage::allocate(10, kDev);
  EXPECT_EQ(g_allocs, before + 1);
  EXPECT_EQ(s.device(), kDev);
}

TEST_F(DeviceSeam, ToDeviceAndBackWithViews) {
  for (DType t : {DType::Float32, DType::Float64, DType::Int64, DType::Float16}) {
    const Tensor a = grid(t);
    const Tensor d = a.to(kDev);
    EXPECT_EQ(d.device(), kDev);
    EXPECT_TRUE(equal(d.to(Device::cpu()), a));
    for (const Tensor& view : {a.t(), a.slice(1, 1, 6, 2), a.select(1, 3), a.narrow(0, 1, 2).t()}) {
      const Tensor dv = view.to(kDev);
      EXPECT_EQ(dv.device(), kDev);
      EXPECT_TRUE(dv.is_contiguous());
      EXPECT_TRUE(equal(dv.to(Device::cpu()), view)) << dtype_name(t);
    }
    // Views on the device: to(cpu), contiguous() and clone() (these recursed before).
    const Tensor views[] = {d.t(), d.slice(1, 1, 6, 2), d.select(1, 3), d.narrow(0, 1, 2).t(),
                            d.select(0, 1).unsqueeze(0).expand({3, 6})};
    const Tensor expect[] = {a.t(), a.slice(1, 1, 6, 2), a.select(1, 3), a.narrow(0, 1, 2).t(),
                             a.select(0, 1).unsqueeze(0).expand({3, 6})};
    for (size_t i = 0; i < std::size(views); ++i) {
      EXPECT_FALSE(views[i].is_contiguous()) << i;
      EXPECT_TRUE(equal(views[i].to(Device::cpu()), expect[i])) << dtype_name(t) << " view " << i;
      const Tensor c = views[i].contiguous();
      EXPECT_EQ(c.device(), kDev);
      EXPECT_TRUE(equal(c.to(Device::cpu()), expect[i])) << dtype_name(t) << " view " << i;
      EXPECT_TRUE(equal(views[i].clone().to(Device::cpu()), expect[i])) << dtype_name(t) << " view " << i;
    }
  }
}

TEST_F(DeviceSeam, CopyAndFillIntoDeviceViewsKeepTheRest) {
  const Tensor a = grid();
  Tensor z = zeros({4, 6}, DType::Float32, kDev);
  z.slice(1, 0, 6, 2).copy_(a.slice(1, 0, 6, 2));  // from a CPU view
  Tensor expect = zeros({4, 6});
  expect.slice(1, 0, 6, 2).copy_(a.slice(1, 0, 6, 2));
  EXPECT_TRUE(equal(z.to(Device::cpu()), expect));

  // From device views, of the same and of another dtype, into device views.
  const Tensor d = a.to(kDev);
  z.select(1, 1).copy_(d.select(1, 4));
  expect.select(1, 1).copy_(a.select(1, 4));
  z.select(1, 3).copy_(d.to(DType::Float64).select(1, 5));
  expect.select(1, 3).copy_(a.select(1, 5));
  EXPECT_TRUE(equal(z.to(Device::cpu()), expect));

  z.t().slice(0, 1, 6, 2).fill_(42);
  expect.t().slice(0, 1, 6, 2).fill_(42);
  EXPECT_TRUE(equal(z.to(Device::cpu()), expect));

  // Into a contiguous device tensor from a device view of another dtype.
  Tensor f = empty({6, 4}, DType::Float64, kDev);
  f.copy_(d.t());
  EXPECT_TRUE(equal(f.to(Device::cpu()), a.t().to(DType::Float64)));
}

TEST_F(DeviceSeam, GradientThroughToDevice) {
  Tensor x = grid().set_requires_grad();
  Tensor y = x.to(kDev).t().to(Device::cpu());
  sum(y * y).backward();
  EXPECT_TRUE(allclose(x.grad(), x.detach() * 2.0));
}

TEST_F(DeviceSeam, CheckpointRecordsDeviceLocation) {
  const Tensor w = grid();
  const Tensor wd = w.to(kDev);
  auto root = io::Value::dict();
  root->set("w", io::Value::from_tensor(wd));
  root->set("wt", io::Value::from_tensor(wd.t()));
  const std::string path =
      (std::filesystem::temp_directory_path() / ("torchless_seam_" + std::to_string(getpid()) + ".pt")).string();
  io::save(root, path);
  io::LoadOptions cpu;
  cpu.map_location = io::MapLocation::parse("cpu");
  const io::Checkpoint ck = io::load_checkpoint(path, cpu);
  ASSERT_EQ(ck.storages.size(), 1u);
  EXPECT_EQ(ck.storages[0].location, "cuda:0");
  EXPECT_TRUE(equal(ck.root->at("w")->tensor, w));
  EXPECT_TRUE(equal(ck.root->at("wt")->tensor, w.t()));
  if (cuda_built()) {  // a CPU-only build refuses cuda locations before allocating
    const io::Checkpoint on_dev = io::load_checkpoint(path);
    EXPECT_EQ(on_dev.storages[0].device, kDev);
    EXPECT_EQ(on_dev.root->at("w")->tensor.device(), kDev);
    EXPECT_TRUE(equal(on_dev.root->at("wt")->tensor.to(Device::cpu()), w.t()));
  }
  std::filesystem::remove(path);
}

// train --device cuda moves the model and the optimizer's state in place:
// the optimizer's handles must see the moved tensors.
TEST_F(DeviceSeam, ToDeviceMovesModelAndAdamStateInPlace) {
  Generator gen(7);
  nn::Linear layer(5, 3, true, &gen);
  optim::Adam opt(layer.parameters(), optim::AdamOptions{});
  Tensor w = layer.parameters()[0];
  const Tensor b = layer.parameters()[1];
  const Tensor b_before = b.detach().clone();
  w.set_grad(ones({3, 5}));
  opt.step();  // creates exp_avg / exp_avg_sq on the CPU
  const Tensor m_before = opt.state(0).exp_avg.clone();
  const Tensor w_stepped = w.detach().clone();
  EXPECT_EQ(optim::model_device(layer), Device::cpu());
  optim::to_device(layer, &opt, kDev);
  EXPECT_EQ(optim::model_device(layer), kDev);
  EXPECT_EQ(opt.param_groups()[0].params[0].device(), kDev);  // the optimizer's own handle
  EXPECT_TRUE(w.is_same(layer.parameters()[0]));
  EXPECT_FALSE(w.grad().defined());
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(equal(w.to(Device::cpu()), w_stepped));
  EXPECT_TRUE(equal(b.to(Device::cpu()), b_before));
  EXPECT_EQ(opt.state(0).exp_avg.device(), kDev);
  EXPECT_TRUE(equal(opt.state(0).exp_avg.to(Device::cpu()), m_before));
  EXPECT_FALSE(opt.state(1).exp_avg.defined());  // b had no gradient: no state to move
  optim::to_device(layer, &opt, kDev);  // already there: nothing changes
  EXPECT_EQ(optim::model_device(layer), kDev);
}
