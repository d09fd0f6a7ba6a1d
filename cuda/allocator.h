#pragma once
// The CUDA backend's caching device allocator and copies, registered into
// core's device seam (core/storage.h: DeviceAllocator) the first time core
// needs CUDA. Plain C++: no CUDA headers, so any code can include it; the
// functions exist only in a torchless built with the CUDA backend
// (cuda_built() in core/device.h).
//
// Freed device blocks are kept by (device, exact byte size) and handed out
// again, so after the first step a training loop does no cudaMalloc/cudaFree.
// When cudaMalloc fails, the device's cached blocks are freed and the
// allocation retried once before an error naming the size and device is
// thrown. All copies are synchronous.
#include <cstddef>
#include <cstdint>
#include <string>

namespace torchless {

struct CudaAllocatorStats {
  uint64_t cuda_mallocs = 0;   ///< successful cudaMalloc calls
  uint64_t cuda_frees = 0;     ///< cudaFree calls
  uint64_t cache_hits = 0;     ///< allocations served from the cache
  size_t bytes_in_use = 0;     ///< handed out and not yet freed
  size_t bytes_cached = 0;     ///< freed, kept for reuse
  size_t blocks_cached = 0;
};

/// Counters since the process started (they are never reset).
CudaAllocatorStats cuda_allocator_stats();
/// cudaFree's every cached block on every device.
void empty_cuda_cache();
/// Most bytes the cache keeps over all devices (default 4 GiB); a block freed
/// beyond it is cudaFree'd. Lowering it does not shrink the cache now.
void set_cuda_cache_limit(size_t bytes);

namespace cuda {
/// Visible CUDA devices; 0 (never an error) when there is no driver or no
/// device, and then `why`, if given, says why.
int device_count(std::string* why = nullptr);
}  // namespace cuda

}  // namespace torchless

/// Registers the CUDA allocator with core (register_cuda_allocator). Core
/// calls it once, before its first use of CUDA; a static initializer would be
/// dropped by the linker from the static library.
void torchless_register_cuda_backend();
