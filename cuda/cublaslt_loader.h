#pragma once
// cuBLASLt is loaded on first use (dlopen), not linked: libcublasLt is
// ~220 MB of mappings and ~80 ms of loading that commands which never touch
// the GPU (inspect, verify, --help) must not pay. Plain C++: no CUDA headers.
// The functions exist only in a torchless built with the CUDA backend
// (cuda_built() in core/device.h).
#include <string>

namespace torchless::cuda {

/// Loads libcublasLt (once per process; later calls return at once) and
/// returns its version, "13.1.0". Throws std::runtime_error naming the
/// library, every path tried and the loader's reason when it cannot be
/// loaded or lacks a function this backend calls; a failed load is retried
/// by the next call. Needs no GPU.
std::string cublaslt_version();

/// Whether this backend has loaded libcublasLt. Never loads it, never throws.
bool cublaslt_loaded();

}  // namespace torchless::cuda
