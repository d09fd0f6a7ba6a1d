// Multi-tensor Adam/AdamW: one launch updates up to kMaxTensors parameters,
// their pointers and per-step scalars passed by value in the kernel's
// parameter table (no device-side table to copy each step). The update is
// cuda/kernels/adam.h's, host-tested against optim::Adam.
//
// The step counts stay on the host (one per parameter, as optim::Adam keeps
// them) and the scalars are computed there: a CUDA graph capture would need
// them on the device instead (not done yet).
#include "cuda/kernels/adam.h"
#include "cuda/launch.h"
#include "cuda/ops.h"

namespace torchless::cuda {
namespace {

constexpr int kMaxTensors = 32;  // keeps the table (~2.9 KB for double) under the 4 KB parameter limit

template <typename T>
struct AdamTable {
  int count;
  T* param[kMaxTensors];
  const T* grad[kMaxTensors];
  T* exp_avg[kMaxTensors];
  T* exp_avg_sq[kMaxTensors];
  T* max_exp_avg_sq[kMaxTensors];
  int64_t start[kMaxTensors + 1];  // prefix sums of the element counts
  kernels::AdamScalars<T> scalars[kMaxTensors];
};

template <typename T>
__global__ void adam_kernel(AdamTable<T> t, bool amsgrad, bool maximize, kernels::AdamDecay decay) {
  const int64_t total = t.start[t.count];
  int k = 0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    while (i >= t.start[k + 1]) ++k;  // i only grows, so k only moves forward
    const int64_t j = i - t.start[k];
    kernels::adam_element<T>(t.param[k][j], t.grad[k][j], t.exp_avg[k][j], t.exp_avg_sq[k][j],
                             amsgrad ? &t.max_exp_avg_sq[k][j] : nullptr, t.scalars[k], amsgrad, maximize, decay);
  }
}

template <typename T>
void launch_chunk(const std::vector<AdamParam>& ps, size_t first, size_t last, const AdamHyper& h) {
  AdamTable<T> table{};
  table.count = static_cast<int>(last - first);
  table.start[0] = 0;
  for (size_t i = first; i < last; ++i) {
    const AdamParam& a = ps[i];
    const int k = static_cast<int>(i - first);
    table.param[k] = static_cast<T*>(a.param.raw_data());
    table.grad[k] = static_cast<const T*>(a.grad.raw_data());
    table.exp_avg[k] = static_cast<T*>(a.exp_avg.raw_data());
    table.exp_avg_sq[k] = static_cast<T*>(a.exp_avg_sq.raw_data());
    table.max_exp_avg_sq[k] = h.amsgrad ? static_cast<T*>(a.max_exp_avg_sq.raw_data()) : nullptr;
    table.start[k + 1] = table.start[k] + a.param.numel();
    table.scalars[k] = kernels::adam_scalars<T>(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, a.step);
  }
  const int64_t total = table.start[table.count];
  if (total == 0) return;
  const kernels::AdamDecay decay = h.weight_decay == 0        ? kernels::AdamDecay::None
                                   : h.decoupled_weight_decay ? kernels::AdamDecay::Decoupled
                                                              : kernels::AdamDecay::Coupled;
  adam_kernel<T><<<blocks_for(total), kThreads, 0, stream()>>>(table, h.amsgrad, h.maximize, decay);
  check_launch("Adam.step");
}

void check_param(const AdamParam& a, const AdamParam& first, bool amsgrad) {
  const char* op = "Adam.step";
  for (const Tensor* t : {&a.param, &a.grad, &a.exp_avg, &a.exp_avg_sq}) {
    require_cuda(*t, op, "parameter, gradient and state");
    if (t->dtype() != first.param.dtype() || t->numel() != a.param.numel() || !t->is_contiguous() ||
        t->device() != first.param.device())
      throw std::invalid_argument("Adam.step on CUDA: parameter, gradient and state must be contiguous, of one "
                                  "dtype, size and device");
  }
  if (amsgrad && (!a.max_exp_avg_sq.defined() || a.max_exp_avg_sq.numel() != a.param.numel() ||
                  a.max_exp_avg_sq.dtype() != a.param.dtype() || !a.max_exp_avg_sq.device().is_cuda()))
    throw std::invalid_argument("Adam.step on CUDA: amsgrad needs max_exp_avg_sq for every parameter");
}

}  // namespace

void adam_step(const std::vector<AdamParam>& params, const AdamHyper& h) {
  if (params.empty()) return;
  for (const AdamParam& a : params) check_param(a, params[0], h.amsgrad);
  const DType dt = params[0].param.dtype();
  DeviceGuard guard(params[0].param.device().index);
  for (size_t first = 0; first < params.size(); first += kMaxTensors) {
    const size_t last = std::min(params.size(), first + kMaxTensors);
    if (dt == DType::Float32) launch_chunk<float>(params, first, last, h);
    else if (dt == DType::Float64) launch_chunk<double>(params, first, last, h);
    else throw std::invalid_argument("Adam.step on CUDA: float32 or float64 only, got " + std::string(dtype_name(dt)));
  }
}

}  // namespace torchless::cuda
