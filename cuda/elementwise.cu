// Elementwise kernels: binary ops over broadcast (stride-0) operands, unary
// ops, strided copies and fills. The per-element math is
// cuda/kernels/elementwise.h's, host-tested against core's CPU ops.
#include <cstring>

#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

using kernels::BroadcastMap;
using kernels::broadcast_offset;

template <typename T, typename O>
__global__ void binary_kernel(BinaryOp op, const T* a, BroadcastMap ma, const T* b, BroadcastMap mb, O* out,
                              int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const T r = kernels::binary_apply(op, a[broadcast_offset(ma, i)], b[broadcast_offset(mb, i)]);
    out[i] = static_cast<O>(r);
  }
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, const T* a, BroadcastMap ma, double s, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = kernels::unary_apply(op, a[broadcast_offset(ma, i)], s);
}

// Copies elements of one size (E bytes: a plain word type of that size).
template <typename E>
__global__ void copy_kernel(E* dst, BroadcastMap md, const E* src, BroadcastMap ms, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[broadcast_offset(md, i)] = src[broadcast_offset(ms, i)];
}

template <typename E>
__global__ void fill_kernel(E* dst, BroadcastMap md, E value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    dst[broadcast_offset(md, i)] = value;
}

struct alignas(16) Word16 {
  uint64_t lo, hi;
};

// Runs f(E{}) with E the unsigned word type of `bytes` bytes.
template <typename F>
void with_word(size_t bytes, const char* op, F f) {
  switch (bytes) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    case 16: return f(Word16{});
  }
  throw std::invalid_argument(std::string(op) + ": no CUDA kernel for " + std::to_string(bytes) + "-byte elements");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.device() != b.device())
    throw std::invalid_argument(std::string(op) + ": tensors on " + a.device().str() + " and " + b.device().str() +
                                " (expected one device)");
}

}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const char* name = "binary op";
  require_cuda(a, name, "a");
  require_cuda(b, name, "b");
  check_same_device(a, out, name);
  check_same_device(b, out, name);
  if (a.dtype() != b.dtype() || a.sizes() != out.sizes() || b.sizes() != out.sizes() || !out.is_contiguous())
    throw std::invalid_argument("binary op on CUDA: operands must have the output's shape and one dtype");
  const int64_t n = out.numel();
  if (n == 0) return;
  const BroadcastMap ma = map_of(a, name), mb = map_of(b, name);
  DeviceGuard guard(out.device().index);
  auto launch = [&](auto zero) {
    using T = decltype(zero);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    if (kernels::is_comparison(op)) {
      if (out.dtype() != DType::Bool) throw std::invalid_argument("comparison on CUDA: output must be bool");
      binary_kernel<T, bool><<<blocks_for(n), kThreads, 0, stream()>>>(op, pa, ma, pb, mb,
                                                                      static_cast<bool*>(out.raw_data()), n);
    } else {
      if (out.dtype() != a.dtype()) throw std::invalid_argument("binary op on CUDA: output dtype differs");
      binary_kernel<T, T><<<blocks_for(n), kThreads, 0, stream()>>>(op, pa, ma, pb, mb,
                                                                   static_cast<T*>(out.raw_data()), n);
    }
  };
  if (a.dtype() == DType::Float32) launch(float{});
  else if (a.dtype() == DType::Float64) launch(double{});
  else throw std::invalid_argument("binary op on CUDA: float32 or float64 only, got " + std::string(dtype_name(a.dtype())));
  check_launch(name);
}

void unary(UnaryOp op, const Tensor& a, double scalar, const Tensor& out) {
  const char* name = "unary op";
  require_cuda(a, name, "a");
  check_same_device(a, out, name);
  if (a.dtype() != out.dtype() || a.sizes() != out.sizes() || !out.is_contiguous())
    throw std::invalid_argument("unary op on CUDA: the output must be contiguous, of the input's shape and dtype");
  const int64_t n = out.numel();
  if (n == 0) return;
  const BroadcastMap ma = map_of(a, name);
  DeviceGuard guard(out.device().index);
  if (a.dtype() == DType::Float32)
    unary_kernel<float><<<blocks_for(n), kThreads, 0, stream()>>>(op, static_cast<const float*>(a.raw_data()), ma,
                                                                  scalar, static_cast<float*>(out.raw_data()), n);
  else if (a.dtype() == DType::Float64)
    unary_kernel<double><<<blocks_for(n), kThreads, 0, stream()>>>(op, static_cast<const double*>(a.raw_data()), ma,
                                                                   scalar, static_cast<double*>(out.raw_data()), n);
  else
    throw std::invalid_argument("unary op on CUDA: float32 or float64 only, got " + std::string(dtype_name(a.dtype())));
  check_launch(name);
}

void copy_strided(const Tensor& dst, const Tensor& src) {
  const char* name = "copy_";
  require_cuda(dst, name, "dst");
  require_cuda(src, name, "src");
  check_same_device(dst, src, name);
  if (dst.dtype() != src.dtype() || dst.sizes() != src.sizes())
    throw std::invalid_argument("copy_ on CUDA: one shape and dtype expected");
  const int64_t n = dst.numel();
  if (n == 0) return;
  const BroadcastMap md = map_of(dst, name), ms = map_of(src, name);
  DeviceGuard guard(dst.device().index);
  with_word(element_size(dst.dtype()), name, [&](auto zero) {
    using E = decltype(zero);
    copy_kernel<E><<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<E*>(dst.raw_data()), md,
                                                             static_cast<const E*>(src.raw_data()), ms, n);
  });
  check_launch(name);
}

void fill(const Tensor& t, double value) {
  const char* name = "fill_";
  require_cuda(t, name, "t");
  const int64_t n = t.numel();
  if (n == 0) return;
  // The element's bytes exactly as the CPU converts the value (every dtype,
  // half and float8 included), so a device fill equals a host one.
  const Tensor one = full({}, value, t.dtype());
  const size_t es = element_size(t.dtype());
  const BroadcastMap md = map_of(t, name);
  DeviceGuard guard(t.device().index);
  with_word(es, name, [&](auto zero) {
    using E = decltype(zero);
    E word{};
    std::memcpy(&word, one.raw_data(), es);
    fill_kernel<E><<<blocks_for(n), kThreads, 0, stream()>>>(static_cast<E*>(t.raw_data()), md, word, n);
  });
  check_launch(name);
}

}  // namespace torchless::cuda
