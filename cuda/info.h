#pragma once
// What the CUDA backend was built with and what it finds at run time.
// Plain C++: no CUDA headers. Exists only in a torchless built with CUDA;
// elsewhere use core's cuda_summary() (core/device.h).
#include <string>

namespace torchless {

/// "toolkit 13.0, cuBLAS 13.1.0; devices: cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.2 GiB)"
/// or "toolkit 13.0, cuBLAS 13.1.0; no CUDA device (no CUDA driver installed)".
/// Loads cuBLASLt to read its version ("cuBLAS not loadable (why)" when it
/// cannot be). Never throws for a missing driver, device or library.
std::string cuda_runtime_summary();

}  // namespace torchless
