#include "optim/adam.h"

#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless::optim {
namespace {

// One parameter's update, in torch's order of operations (its foreach path):
//   g = grad (negated if maximize) [+ wd*p]        p *= 1 - lr*wd  (AdamW)
//   m = lerp(m, g, 1-b1)    v = v*b2 + (1-b2)*g*g   [vmax = max(vmax, v)]
//   p += -(lr/bc1) * m / (sqrt(v) * (1/sqrt(bc2)) + eps)
// torch divides by sqrt(bc2); multiplying by its reciprocal differs by at
// most an ulp before eps is added (the float64 tests agree with torch to
// 1e-12) and drops one of the loop's three divisions and square roots, which
// bound it: 131 -> 98 us per step of the MLP at 2 threads.
// The options are template parameters so the loop has no branches and
// vectorises.
enum class Decay { None, Coupled, Decoupled };

template <typename T, bool Amsgrad, bool Maximize, Decay D>
void adam_loop(T* __restrict p, const T* __restrict grad, T* __restrict m, T* __restrict v, T* __restrict vmax,
               int64_t n, const AdamOptions& o, double step) {
  const T b2 = static_cast<T>(o.beta2);
  const T one_minus_b1 = static_cast<T>(1 - o.beta1), one_minus_b2 = static_cast<T>(1 - o.beta2);
  const T wd = static_cast<T>(o.weight_decay);
  const T decay = static_cast<T>(1 - o.lr * o.weight_decay);
  const T step_size = static_cast<T>(-(o.lr / (1 - std::pow(o.beta1, step))));
  const T inv_bc2_sqrt = static_cast<T>(1 / std::sqrt(1 - std::pow(o.beta2, step)));
  const T eps = static_cast<T>(o.eps);
  // Compute-bound (a square root and a division per element): threads pay
  // off from a few thousand elements.
#pragma omp parallel for if (n >= 8192) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    T g = Maximize ? -grad[i] : grad[i];
    T pi = p[i];
    if constexpr (D == Decay::Decoupled) pi *= decay;
    if constexpr (D == Decay::Coupled) g += wd * pi;
    const T mi = m[i] + one_minus_b1 * (g - m[i]);  // torch's lerp for weights < 0.5
    const T vi = v[i] * b2 + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    T denom_src = vi;
    if constexpr (Amsgrad) {
      const T vm = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vm;
      denom_src = vm;
    }
    const T denom = std::sqrt(denom_src) * inv_bc2_sqrt + eps;
    p[i] = pi + step_size * (mi / denom);
  }
}

template <typename T>
void adam_update(T* p, const T* grad, T* m, T* v, T* vmax, int64_t n, const AdamOptions& o, double step) {
  const Decay d = o.weight_decay == 0 ? Decay::None : o.decoupled_weight_decay ? Decay::Decoupled : Decay::Coupled;
  auto with_decay = [&]<bool A, bool M>() {
    switch (d) {
      case Decay::None: return adam_loop<T, A, M, Decay::None>(p, grad, m, v, vmax, n, o, step);
      case Decay::Coupled: return adam_loop<T, A, M, Decay::Coupled>(p, grad, m, v, vmax, n, o, step);
      case Decay::Decoupled: return adam_loop<T, A, M, Decay::Decoupled>(p, grad, m, v, vmax, n, o, step);
    }
  };
  if (vmax) {
    if (o.maximize) with_decay.template operator()<true, true>();
    else with_decay.template operator()<true, false>();
  } else {
    if (o.maximize) with_decay.template operator()<false, true>();
    else with_decay.template operator()<false, false>();
  }
}

}  // namespace

void AdamOptions::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("Adam: " + what); };
  if (!(lr >= 0)) bad("invalid learning rate: " + std::to_string(lr));
  if (!(eps >= 0)) bad("invalid epsilon value: " + std::to_string(eps));
  if (!(beta1 >= 0 && beta1 < 1)) bad("invalid beta parameter at index 0: " + std::to_string(beta1));
  if (!(beta2 >= 0 && beta2 < 1)) bad("invalid beta parameter at index 1: " + std::to_string(beta2));
  if (!(weight_decay >= 0)) bad("invalid weight_decay value: " + std::to_string(weight_decay));
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options) : Adam(std::vector<ParamGroup>{{std::move(params), options}}) {}

Adam::Adam(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  size_t n = 0;
  for (auto& g : groups_) {
    g.options.validate();
    for (auto& p : g.params) {
      if (!p.defined()) throw std::invalid_argument("Adam: undefined parameter tensor");
      if (!is_floating(p.dtype())) throw std::invalid_argument("Adam: can only optimize floating-point tensors");
      ++n;
    }
  }
  if (n == 0) throw std::invalid_argument("Adam: optimizer got an empty parameter list");
  state_.resize(n);
}

void Adam::step() {
  NoGradGuard no_grad;
  size_t idx = 0;
  for (auto& group : groups_) {
#ifdef TORCHLESS_WITH_CUDA
    std::vector<cuda::AdamParam> on_device;  // updated together: one launch per 32 tensors
#endif
    for (auto& p : group.params) {
      AdamParamState& st = state_[idx++];
      Tensor g = p.grad();
      if (!g.defined() || !p.requires_grad()) continue;
      if (!p.is_contiguous() || !g.is_contiguous())
        throw std::invalid_argument("Adam: parameters and gradients must be contiguous");
      if (!st.exp_avg.defined()) {
        st.exp_avg = zeros(p.sizes(), p.dtype(), p.device());
        st.exp_avg_sq = zeros(p.sizes(), p.dtype(), p.device());
        if (group.options.amsgrad) st.max_exp_avg_sq = zeros(p.sizes(), p.dtype(), p.device());
      }
      if (group.options.amsgrad && !st.max_exp_avg_sq.defined())
        st.max_exp_avg_sq = zeros(p.sizes(), p.dtype(), p.device());
      st.step += 1;
      if (p.device().is_cuda()) {
#ifdef TORCHLESS_WITH_CUDA
        on_device.push_back({p, g, st.exp_avg, st.exp_avg_sq, st.max_exp_avg_sq, st.step});
        continue;
#endif
      }
      if (!g.device().is_cpu())
        throw std::invalid_argument("Adam: parameter on " + p.device().str() + " but gradient on " + g.device().str());
      cpu::dispatch_float(p.dtype(), "Adam.step", [&](auto zero) {
        using T = decltype(zero);
        adam_update<T>(static_cast<T*>(p.raw_data()), static_cast<const T*>(g.raw_data()),
                       static_cast<T*>(st.exp_avg.raw_data()), static_cast<T*>(st.exp_avg_sq.raw_data()),
                       group.options.amsgrad ? static_cast<T*>(st.max_exp_avg_sq.raw_data()) : nullptr, p.numel(),
                       group.options, st.step);
      });
    }
#ifdef TORCHLESS_WITH_CUDA
    const AdamOptions& o = group.options;
    cuda::adam_step(on_device, {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize,
                                o.decoupled_weight_decay});
#endif
  }
}

void Adam::zero_grad() {
  for (auto& group : groups_)
    for (auto& p : group.params) p.set_grad(Tensor());
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options) : Adam([&] {
  options.decoupled_weight_decay = true;
  return std::vector<ParamGroup>{{std::move(params), options}};
}()) {}

}  // namespace torchless::optim
