// Reductions: sum over any set of dims (one block per output element,
// accumulated in double as the CPU does) and argmax along one dim (one
// thread per output, with cuda/kernels/softmax.h's combine_argmax: first
// maximum wins, NaN counts as the maximum, as on the CPU).
#include "cuda/kernels/softmax.h"
#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

using kernels::BroadcastMap;
using kernels::broadcast_offset;

template <typename T>
__global__ void sum_kernel(const T* a, BroadcastMap outer, BroadcastMap inner, int64_t m, int64_t r, T* out) {
  __shared__ double partial[kThreads];
  for (int64_t o = blockIdx.x; o < m; o += gridDim.x) {
    const T* base = a + broadcast_offset(outer, o);
    double acc = 0;
    for (int64_t i = threadIdx.x; i < r; i += blockDim.x) acc += static_cast<double>(base[broadcast_offset(inner, i)]);
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int width = kThreads / 2; width > 0; width /= 2) {
      if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[o] = static_cast<T>(partial[0]);
    __syncthreads();  // partial[] is reused by the next output
  }
}

__global__ void argmax_kernel(const float* a, BroadcastMap outer, int64_t n, int64_t stride, int64_t m,
                              int64_t* out) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < m; o += int64_t{gridDim.x} * blockDim.x) {
    const float* row = a + broadcast_offset(outer, o);
    kernels::ArgmaxPair best{row[0], 0};
    for (int64_t i = 1; i < n; ++i) best = kernels::combine_argmax(best, kernels::ArgmaxPair{row[i * stride], i});
    out[o] = best.index;
  }
}

// The map over the dims of `a` where keep[d] is true, in order.
BroadcastMap sub_map(const Tensor& a, const std::vector<bool>& keep, int64_t& count) {
  BroadcastMap m{};
  m.ndim = 0;
  count = 1;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (!keep[d]) continue;
    m.sizes[m.ndim] = a.size(d);
    m.strides[m.ndim] = a.stride(d);
    ++m.ndim;
    count *= a.size(d);
  }
  return m;
}

}  // namespace

void sum(const Tensor& a, const std::vector<bool>& mask, const Tensor& out) {
  const char* name = "sum";
  require_cuda(a, name, "input");
  require_cuda(out, name, "out");
  if (a.dim() > kernels::kMaxDims || static_cast<int64_t>(mask.size()) != a.dim() || !out.is_contiguous() ||
      out.dtype() != a.dtype())
    throw std::invalid_argument("sum on CUDA: bad mask, rank or output for input " + shape_str(a.sizes()));
  std::vector<bool> kept(mask.size());
  for (size_t d = 0; d < mask.size(); ++d) kept[d] = !mask[d];
  int64_t m = 0, r = 0;
  const BroadcastMap outer = sub_map(a, kept, m), inner = sub_map(a, mask, r);
  if (m == 0) return;
  DeviceGuard guard(a.device().index);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(m, 65535));
  if (a.dtype() == DType::Float32)
    sum_kernel<float><<<blocks, kThreads, 0, stream()>>>(static_cast<const float*>(a.raw_data()), outer, inner, m, r,
                                                        static_cast<float*>(out.raw_data()));
  else if (a.dtype() == DType::Float64)
    sum_kernel<double><<<blocks, kThreads, 0, stream()>>>(static_cast<const double*>(a.raw_data()), outer, inner, m,
                                                         r, static_cast<double*>(out.raw_data()));
  else
    throw std::invalid_argument("sum on CUDA: float32 or float64 only, got " + std::string(dtype_name(a.dtype())));
  check_launch(name);
}

void argmax(const Tensor& a, int64_t dim, const Tensor& out) {
  const char* name = "argmax";
  require_cuda(a, name, "input");
  require_cuda(out, name, "out");
  require_float32(a, name);
  if (a.dim() > kernels::kMaxDims || out.dtype() != DType::Int64 || !out.is_contiguous())
    throw std::invalid_argument("argmax on CUDA: bad rank or output for input " + shape_str(a.sizes()));
  std::vector<bool> kept(a.dim(), true);
  int64_t n = 1, stride = 0;
  if (a.dim() > 0) {
    kept[dim] = false;
    n = a.size(dim);
    stride = a.stride(dim);
  }
  int64_t m = 0;
  const BroadcastMap outer = sub_map(a, kept, m);
  if (m == 0 || n == 0) return;
  DeviceGuard guard(a.device().index);
  argmax_kernel<<<blocks_for(m), kThreads, 0, stream()>>>(static_cast<const float*>(a.raw_data()), outer, n, stride,
                                                          m, static_cast<int64_t*>(out.raw_data()));
  check_launch(name);
}

}  // namespace torchless::cuda
