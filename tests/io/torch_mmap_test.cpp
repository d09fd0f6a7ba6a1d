// Zero-copy loading of torch checkpoints (LoadOptions::mmap, torch.load's
// mmap=True): the tensors equal a copying load's, point into the file's
// mapping and keep it alive, may be written in place without touching the
// file, and the load maps in none of the tensor records' pages and keeps no
// file descriptor, so its cost does not grow with the tensors' size.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ops.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using namespace torchless;
using namespace torchless::test;  // support/test_util.h

namespace {

io::LoadOptions mmap_load() {
  io::LoadOptions opt;
  opt.mmap = true;
  return opt;
}

Tensor tensor_at(const io::Checkpoint& ck, const std::string& key) { return ck.root->get(key)->tensor; }

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A state dict of every computing dtype and some storage-only ones, a
// transposed view sharing its base's storage, a 0-dim and an empty tensor.
io::ValuePtr mixed_state_dict() {
  auto d = io::Value::dict("collections.OrderedDict");
  const Tensor w = arange(0, 12).reshape({3, 4});
  d->set("w", io::Value::from_tensor(w));
  d->set("w_t", io::Value::from_tensor(w.t()));
  d->set("f64", io::Value::from_tensor(arange(0, 5, 1, DType::Float64)));
  d->set("f16", io::Value::from_tensor(arange(0, 6).to(DType::Float16)));
  d->set("i64", io::Value::from_tensor(arange(-3, 3).to(DType::Int64)));
  d->set("u8", io::Value::from_tensor(arange(0, 7).to(DType::UInt8)));
  d->set("scalar", io::Value::from_tensor(full({}, 2.5)));
  d->set("empty", io::Value::from_tensor(zeros({0, 3})));
  return d;
}

}  // namespace

TEST(TorchMmapLoad, EqualsTheCopyingLoad) {
  TempDir dir;
  const std::string path = dir / "mixed.pt";
  io::save(mixed_state_dict(), path);
  const io::Checkpoint copied = io::load_checkpoint(path);
  const io::Checkpoint mapped = io::load_checkpoint(path, mmap_load());
  for (const char* key : {"w", "w_t", "f64", "f16", "i64", "u8", "scalar", "empty"}) {
    SCOPED_TRACE(key);
    const Tensor a = tensor_at(copied, key), b = tensor_at(mapped, key);
    EXPECT_EQ(b.dtype(), a.dtype());
    EXPECT_EQ(b.shape(), a.shape());
    EXPECT_EQ(b.strides(), a.strides());
    EXPECT_EQ(b.storage_offset(), a.storage_offset());
    EXPECT_EQ(tensor_bytes(b), tensor_bytes(a));
  }
  EXPECT_EQ(tensor_at(mapped, "w_t").storage().id(), tensor_at(mapped, "w").storage().id())
      << "a view and its base must share one storage, as in torch";
}

TEST(TorchMmapLoad, TensorsPointIntoTheMappingAndKeepItAlive) {
  TempDir dir;
  const std::string path = dir / "mixed.pt";
  io::save(mixed_state_dict(), path);
  Tensor keep;
  {
    const io::Checkpoint ck = io::load_checkpoint(path, mmap_load());
    const auto maps = mappings_of(path);
    ASSERT_FALSE(maps.empty()) << "file is not mapped";
    for (const char* key : {"w", "f64", "f16", "i64", "u8", "scalar"}) {
      const Tensor t = tensor_at(ck, key);
      const auto a = reinterpret_cast<uintptr_t>(t.raw_data());
      bool inside = false;
      for (auto [lo, hi] : maps) inside |= a >= lo && a + t.nbytes() <= hi;
      EXPECT_TRUE(inside) << key << " was copied instead of mapped";
    }
    keep = tensor_at(ck, "w");
  }
  EXPECT_FALSE(mappings_of(path).empty()) << "the tensor must keep the mapping alive";
  EXPECT_EQ(keep.to_vector(), arange(0, 12).to_vector());
  keep = Tensor();
  EXPECT_TRUE(mappings_of(path).empty()) << "mapping leaked after the last tensor went";
}

TEST(TorchMmapLoad, InPlaceWritesArePrivateAndLeaveTheFileAlone) {
  TempDir dir;
  const std::string path = dir / "w.pt";
  io::save(mixed_state_dict(), path);
  const std::string before = read_file(path);
  {
    const io::Checkpoint ck = io::load_checkpoint(path, mmap_load());
    Tensor w = tensor_at(ck, "w");
    w.fill_(-1.0);  // what an optimizer step does to a loaded parameter
    EXPECT_EQ(w.to_vector(), std::vector<double>(12, -1.0));
    EXPECT_EQ(tensor_at(ck, "w_t").to_vector(), std::vector<double>(12, -1.0)) << "the view sees the write";
    const io::Checkpoint again = io::load_checkpoint(path, mmap_load());
    EXPECT_EQ(tensor_at(again, "w").to_vector(), arange(0, 12).to_vector()) << "another load sees the file";
  }
  EXPECT_EQ(read_file(path), before) << "writing to a mapped tensor changed the file";
}

TEST(TorchMmapLoad, MapsInNoRecordPagesAndKeepsNoDescriptor) {
  // 64 records of 256 KiB, each on pages of its own: 16 MiB of tensor data.
  TempDir dir;
  const std::string path = dir / "many.pt";
  {
    auto d = io::Value::dict("collections.OrderedDict");
    for (int i = 0; i < 64; ++i) d->set("t" + std::to_string(i), io::Value::from_tensor(full({256, 256}, i)));
    io::save(d, path);
  }
  const int fds_before = open_descriptors();
  const io::Checkpoint ck = io::load_checkpoint(path, mmap_load());
  EXPECT_EQ(open_descriptors(), fds_before) << "a zero-copy load must not hold the file open";
  // Parsing reads data.pkl and the zip directory; reading each record's local
  // header through the mapping would fault in (and map around) a page per
  // record: 64 x 64 KiB with the kernel's default fault-around.
  const long kib = resident_kib_of(path);
  EXPECT_LT(kib, 1024) << "the load touched the tensor records' pages (" << kib << " KiB mapped)";
  EXPECT_EQ(tensor_at(ck, "t63").to_vector()[0], 63.0);  // and the data is there when read
}
