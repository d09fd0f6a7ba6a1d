#pragma once
// Storage: bytes on one device, shared by every tensor viewing them.
// CPU bytes come from a caching allocator (no malloc per training step), or
// wrap memory owned elsewhere (an mmap'd checkpoint) kept alive by `owner`.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "core/device.h"

namespace torchless {

/// A CPU allocation the system refused. Still a std::bad_alloc (code that
/// catches that keeps working), with a message that says how much was asked.
class OutOfMemoryError : public std::bad_alloc {
 public:
  explicit OutOfMemoryError(size_t nbytes);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

class Storage {
 public:
  Storage() = default;
  /// Allocates `nbytes` uninitialised bytes on `device` (64-byte aligned on CPU).
  /// Throws OutOfMemoryError when the system has no memory for it, and
  /// std::runtime_error if CUDA is requested in a build without it.
  static Storage allocate(size_t nbytes, Device device = Device::cpu());
  /// Wraps memory the caller keeps alive through `owner` (e.g. an mmap).
  static Storage wrap(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner);

  void* data() const { return impl_ ? impl_->data : nullptr; }
  size_t nbytes() const { return impl_ ? impl_->nbytes : 0; }
  Device device() const { return impl_ ? impl_->device : Device::cpu(); }
  bool defined() const { return impl_ != nullptr; }
  /// Identity of the underlying buffer: views of one storage share it.
  const void* id() const { return impl_.get(); }
  long use_count() const { return impl_.use_count(); }

 private:
  struct Impl {
    void* data = nullptr;
    size_t nbytes = 0;
    Device device;
    std::shared_ptr<void> owner;  // releases the bytes when the last Storage goes
  };
  std::shared_ptr<Impl> impl_;
};

/// Device allocator hooks, filled in by a backend (cuda/): in a build with
/// CUDA, core registers it the first time it needs CUDA.
struct DeviceAllocator {
  void* (*alloc)(size_t nbytes, int device_index) = nullptr;
  void (*free)(void* p, size_t nbytes, int device_index) = nullptr;
  void (*copy)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) = nullptr;
  int (*device_count)() = nullptr;
  std::string (*summary)() = nullptr;  ///< for cuda_summary()
  /// The backend's kernels run on this allocator's memory (the built-in CUDA
  /// backend's). When false (a stand-in device, as core's seam test
  /// registers), copy_ and fill_ of device tensors go through host copies
  /// instead of kernels.
  bool kernels = false;
};
void register_cuda_allocator(const DeviceAllocator& a);
const DeviceAllocator* cuda_allocator();  // null when no backend is registered
/// Whether the registered CUDA backend runs kernels on its memory (see DeviceAllocator::kernels).
bool cuda_kernels_available();

/// Copies bytes between any two devices. Throws when CUDA is involved but absent.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

/// Frees every cached CPU block (the cache otherwise keeps freed blocks for reuse).
void empty_cpu_cache();

/// Counters of the CPU block cache, for tests and benchmarks: a training
/// step in steady state must not add to `system_allocations`.
struct CpuCacheStats {
  uint64_t system_allocations = 0;  ///< blocks obtained from the system allocator
  uint64_t reuses = 0;              ///< allocations served from the cache
  size_t cached_bytes = 0;
};
CpuCacheStats cpu_cache_stats();

}  // namespace torchless
