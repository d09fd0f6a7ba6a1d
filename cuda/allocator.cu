// The caching CUDA allocator and copies behind core's device seam.
//
// Reuse is safe because everything runs in order on the legacy default
// stream: a block freed here is only handed out to work queued after the work
// that used it. (Work on other streams would need events before reuse.)
#include "cuda/allocator.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/storage.h"
#include "cuda/check.h"
#include "cuda/info.h"
#include "cuda/launch.h"

namespace torchless {
namespace {

using cuda::DeviceGuard;

struct DeviceCount {
  int count = 0;
  std::string why;
};

// The runtime reads the visible devices once per process; so do we.
const DeviceCount& probe_devices() {
  static const DeviceCount probed = [] {
    DeviceCount d;
    const cudaError_t err = cudaGetDeviceCount(&d.count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      d.count = 0;
      int driver = 0;
      const bool no_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0;
      d.why = std::string(no_driver ? "no CUDA driver installed; " : "") + "cudaGetDeviceCount: " +
              cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    } else if (d.count == 0) {
      d.why = "cudaGetDeviceCount found none";
    }
    return d;
  }();
  return probed;
}

// Throws unless cuda:`index` exists.
void check_device(int index) {
  const DeviceCount& d = probe_devices();
  if (d.count == 0)
    throw std::runtime_error("cuda:" + std::to_string(index) +
                             " requested, but there is no CUDA device (" + d.why + ")");
  if (index < 0 || index >= d.count)
    throw std::runtime_error("cuda:" + std::to_string(index) + " requested, but only " +
                             std::to_string(d.count) + " CUDA device(s) are visible");
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

class CudaBlockCache {
 public:
  void* get(size_t nbytes, int device) {
    check_device(device);
    if (nbytes == 0) return nullptr;  // nothing to allocate; free(nullptr) is a no-op
    {
      std::lock_guard lock(mu_);
      auto it = free_.find({device, nbytes});
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.bytes_cached -= nbytes;
        --stats_.blocks_cached;
        ++stats_.cache_hits;
        stats_.bytes_in_use += nbytes;
        return p;
      }
    }
    DeviceGuard guard(device);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, nbytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(device);
      err = cudaMalloc(&p, nbytes);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      std::string mem;
      if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        mem = "; " + mib(free_b) + " free of " + mib(total_b);
      (void)cudaGetLastError();
      throw std::runtime_error("CUDA out of memory: cannot allocate " + std::to_string(nbytes) + " bytes (" +
                               mib(nbytes) + ") on cuda:" + std::to_string(device) + " (cudaMalloc: " +
                               cudaGetErrorName(err) + ", after freeing the cache" + mem + ")");
    }
    std::lock_guard lock(mu_);
    ++stats_.cuda_mallocs;
    stats_.bytes_in_use += nbytes;
    return p;
  }

  // Called from Storage's deleter: must not throw.
  void put(void* p, size_t nbytes, int device) noexcept {
    if (!p) return;
    {
      std::lock_guard lock(mu_);
      stats_.bytes_in_use -= nbytes;
      if (stats_.bytes_cached + nbytes <= limit_) {
        try {
          free_[{device, nbytes}].push_back(p);
          stats_.bytes_cached += nbytes;
          ++stats_.blocks_cached;
          return;
        } catch (...) {  // no memory for the bookkeeping: give the block back instead
        }
      }
      ++stats_.cuda_frees;
    }
    release(p, device);
  }

  // cudaFree's the cached blocks of `device`, or of every device when it is -1.
  void release_cached(int device) noexcept {
    std::vector<std::pair<int, void*>> blocks;
    {
      std::lock_guard lock(mu_);
      for (auto it = free_.begin(); it != free_.end();) {
        if (device >= 0 && it->first.first != device) {
          ++it;
          continue;
        }
        for (void* p : it->second) {
          blocks.emplace_back(it->first.first, p);
          stats_.bytes_cached -= it->first.second;
          --stats_.blocks_cached;
          ++stats_.cuda_frees;
        }
        it = free_.erase(it);
      }
    }
    for (auto [dev, p] : blocks) release(p, dev);
  }

  CudaAllocatorStats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void set_limit(size_t bytes) {
    std::lock_guard lock(mu_);
    limit_ = bytes;
  }

 private:
  // Errors are dropped: this runs from deleters, also while the runtime shuts
  // down at exit (cudaErrorCudartUnloading), when the memory goes anyway.
  static void release(void* p, int device) noexcept {
    int previous = -1;
    const bool got = cudaGetDevice(&previous) == cudaSuccess;
    if (got && previous != device) (void)cudaSetDevice(device);
    (void)cudaFree(p);
    if (got && previous != device) (void)cudaSetDevice(previous);
    (void)cudaGetLastError();
  }

  std::mutex mu_;
  std::map<std::pair<int, size_t>, std::vector<void*>> free_;  // (device, nbytes) -> blocks
  CudaAllocatorStats stats_;
  size_t limit_ = size_t{4} << 30;
};

CudaBlockCache& cache() {
  static CudaBlockCache* c = new CudaBlockCache();  // never destroyed: outlives static tensors at exit
  return *c;
}

void* cuda_alloc(size_t nbytes, int device) { return cache().get(nbytes, device); }

void cuda_free(void* p, size_t nbytes, int device) { cache().put(p, nbytes, device); }

void cuda_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cuda()) check_device(dst_dev.index);
  if (src_dev.is_cuda()) check_device(src_dev.index);
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, nbytes);
  } else if (src_dev.is_cpu()) {
    DeviceGuard guard(dst_dev.index);
    TORCHLESS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
  } else if (dst_dev.is_cpu()) {
    DeviceGuard guard(src_dev.index);
    TORCHLESS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
  } else if (dst_dev.index == src_dev.index) {
    DeviceGuard guard(dst_dev.index);
    TORCHLESS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
  } else {
    // Between devices (through the host when peer access is off); it is
    // asynchronous to the host, so wait for it to keep copies synchronous.
    TORCHLESS_CUDA_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, nbytes));
    DeviceGuard guard(dst_dev.index);
    TORCHLESS_CUDA_CHECK(cudaDeviceSynchronize());
  }
}

int cuda_count() { return probe_devices().count; }

std::string cuda_summary_fn() { return cuda_runtime_summary(); }

}  // namespace

CudaAllocatorStats cuda_allocator_stats() { return cache().stats(); }

void empty_cuda_cache() { cache().release_cached(-1); }

void set_cuda_cache_limit(size_t bytes) { cache().set_limit(bytes); }

namespace cuda {
int device_count(std::string* why) {
  const DeviceCount& d = probe_devices();
  if (why) *why = d.why;
  return d.count;
}
}  // namespace cuda

}  // namespace torchless

void torchless_register_cuda_backend() {
  torchless::DeviceAllocator a;
  a.alloc = torchless::cuda_alloc;
  a.free = torchless::cuda_free;
  a.copy = torchless::cuda_copy;
  a.device_count = torchless::cuda_count;
  a.summary = torchless::cuda_summary_fn;
  a.kernels = true;
  torchless::register_cuda_allocator(a);
}
