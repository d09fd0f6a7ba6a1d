// Sums, means and argmax over dimensions, and their gradients.
#include <algorithm>
#include <Eigen/Core>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "core/cpu/strided.h"
#include "core/ops.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless {
namespace {

std::vector<bool> reduced_mask(const Shape& dims, int64_t ndim) {
  std::vector<bool> mask(std::max<int64_t>(ndim, 0), false);
  if (dims.empty()) std::fill(mask.begin(), mask.end(), true);
  for (auto d : dims) {
    const int64_t w = wrap_dim(d, ndim);
    if (ndim == 0) continue;
    // torch refuses duplicates ("dim 1 appears multiple times in the list of dims")
    if (mask[w] && !dims.empty()) throw std::invalid_argument("sum: dim " + std::to_string(w) + " repeated");
    mask[w] = true;
  }
  return mask;
}

// The sum of a contiguous run, in double. Eight running sums: one chain
// waits on every add's latency and cannot be vectorised; eight can.
template <typename T> double sum_run(const T* x, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(x[i + l]);
  double s = 0;
  for (double a : acc) s += a;
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}

// out (kept shape, zeroed) += the sums over masked dims of the CPU tensor a.
void sum_cpu(const Tensor& a, const std::vector<bool>& mask, Tensor& out) {
  cpu::dispatch_float(a.dtype(), "sum", [&](auto zero) {
    using T = decltype(zero);
    T* o = static_cast<T*>(out.raw_data());
    const T* x = static_cast<const T*>(a.raw_data());
    if (a.is_contiguous() && std::all_of(mask.begin(), mask.end(), [](bool m) { return m; })) {
      // Accumulate in double: a float running sum drifts (1e6 x 0.1f is off by 22).
      *o = static_cast<T>(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(x, a.numel()).template cast<double>().sum());
      return;
    }
    Shape ost = out.strides();
    for (int64_t d = 0; d < a.dim(); ++d)
      if (mask[d]) ost[d] = 0;
    cpu::for_each_row<2>(a.sizes(), {&ost, &a.strides()},
                         [&](const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st, int64_t n) {
                           T* op = o + off[0];
                           const T* xp = x + off[1];
                           if (st[0] == 0 && st[1] == 1) {
                             *op += static_cast<T>(sum_run(xp, n));
                           } else if (st[0] == 0) {
                             double acc = 0;
                             for (int64_t i = 0; i < n; ++i) acc += xp[i * st[1]];
                             *op += static_cast<T>(acc);
                           } else if (st[0] == 1 && st[1] == 1) {
                             for (int64_t i = 0; i < n; ++i) op[i] += xp[i];
                           } else {
                             for (int64_t i = 0; i < n; ++i) op[i * st[0]] += xp[i * st[1]];
                           }
                         });
  });
}

// out[...] = sum over masked dims of a[...], accumulated in T.
Tensor sum_kernel(const Tensor& a, const std::vector<bool>& mask, bool keepdim) {
  Shape kept;       // output shape with keepdim
  for (int64_t d = 0; d < a.dim(); ++d) kept.push_back(mask[d] ? 1 : a.size(d));
  Tensor out;
  if (a.device().is_cuda()) {
    out = empty(kept, a.dtype(), a.device());
#ifdef TORCHLESS_WITH_CUDA
    cuda::sum(a, mask, out);
#endif
  } else {
    out = zeros(kept, a.dtype());
    sum_cpu(a, mask, out);
  }
  if (keepdim) return out;
  Shape squeezed;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (!mask[d]) squeezed.push_back(a.size(d));
  return out.view(squeezed);
}

Tensor sum_impl(const Tensor& a, const Shape& dims, bool keepdim, bool all) {
  if (a.device().is_cuda() && !cuda_built()) throw std::invalid_argument("sum: CUDA tensors need the CUDA backend");
  const auto mask = all ? std::vector<bool>(a.dim(), true) : reduced_mask(dims, a.dim());
  Tensor out = sum_kernel(a, mask, keepdim);
  if (any_requires_grad({&a})) {
    const Shape in_shape = a.sizes(), kept = [&] {
      Shape k;
      for (int64_t d = 0; d < a.dim(); ++d) k.push_back(mask[d] ? 1 : a.size(d));
      return k;
    }();
    record(out, "SumBackward", {a}, [in_shape, kept](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(kept).expand(in_shape).contiguous()};
    });
  }
  return out;
}

int64_t reduced_count(const Tensor& a, const Shape& dims) {
  if (dims.empty()) return a.numel();
  const auto mask = reduced_mask(dims, a.dim());
  int64_t n = 1;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (mask[d]) n *= a.size(d);
  return n;
}

}  // namespace

Tensor sum(const Tensor& a) { return sum_impl(a, {}, false, true); }
Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) { return sum_impl(a, dims, keepdim, dims.empty()); }
Tensor mean(const Tensor& a) { return mul(sum(a), 1.0 / static_cast<double>(a.numel())); }
Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) {
  return mul(sum(a, dims, keepdim), 1.0 / static_cast<double>(reduced_count(a, dims)));
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.sizes() == shape) return a;
  const int64_t lead = a.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0) throw std::invalid_argument("sum_to: cannot reduce " + shape_str(a.sizes()) + " to " + shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && a.size(d) != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? a : sum(a, dims, true);
  return r.reshape(shape);
}

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  if (a.device().is_cuda() && !cuda_built()) throw std::invalid_argument("argmax: CUDA tensors need the CUDA backend");
  dim = wrap_dim(dim, a.dim());
  if (a.dim() > 0 && a.size(dim) == 0) throw std::invalid_argument("argmax: empty dimension");
  if (a.device().is_cuda()) {
    Shape out_shape;
    for (int64_t d = 0; d < a.dim(); ++d)
      if (d != dim) out_shape.push_back(a.size(d));
    Tensor out = empty(out_shape, DType::Int64, a.device());
#ifdef TORCHLESS_WITH_CUDA
    cuda::argmax(a.detach(), dim, out);
#endif
    return keepdim && a.dim() > 0 ? out.unsqueeze(dim) : out;
  }
  // Move `dim` last so each output element scans one contiguous row.
  Shape perm;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d != dim) perm.push_back(d);
  if (a.dim() > 0) perm.push_back(dim);
  Tensor x = (a.dim() > 0 ? a.detach().permute(perm) : a.detach().reshape({1})).contiguous();
  const int64_t n = x.numel() ? x.size(-1) : 1;
  const int64_t rows = n ? x.numel() / n : 0;
  Shape out_shape;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (d != dim) out_shape.push_back(a.size(d));
  Tensor out = empty(out_shape, DType::Int64);
  int64_t* o = static_cast<int64_t*>(out.raw_data());
  cpu::dispatch_float(a.dtype(), "argmax", [&](auto zero) {
    using T = decltype(zero);
    const T* p = static_cast<const T*>(x.raw_data());
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = p + r * n;
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i)
        if (row[i] > row[best] || (row[i] != row[i] && row[best] == row[best])) best = i;
      o[r] = best;
    }
  });
  return keepdim && a.dim() > 0 ? out.unsqueeze(dim) : out;
}

}  // namespace torchless
