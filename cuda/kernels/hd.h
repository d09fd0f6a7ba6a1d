#pragma once
// TORCHLESS_HD marks kernel math that both CUDA kernels and CPU tests call:
// nvcc sees __host__ __device__, a plain C++ compiler sees nothing, so the
// same header is unit-tested on the CPU in CI without a device.
#if defined(__CUDACC__)
#define TORCHLESS_HD __host__ __device__ __forceinline__
#else
#define TORCHLESS_HD inline
#endif
