#pragma once
// Adam/AdamW per-element update, shared by the multi-tensor CUDA kernel and
// its CPU test. It reproduces optim/adam.cpp operation for operation (same
// float expression order, same scalars rounded to T once), so the device
// result differs from the CPU optimizer's only by where each compiler
// contracts a*b+c into an FMA (one rounding of an intermediate).
#include <cmath>
#include <cstdint>

#include "cuda/kernels/hd.h"

namespace torchless::cuda::kernels {

// The per-step scalars, computed in double from the step count exactly as
// optim/adam.cpp does, then rounded to T. On the device they are computed by
// one thread from the device-resident step so a captured graph needs no host.
template <typename T>
struct AdamScalars {
  T b2, one_minus_b1, one_minus_b2, wd, decay, step_size, inv_bc2_sqrt, eps;
};

template <typename T>
TORCHLESS_HD AdamScalars<T> adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                         double step) {
  AdamScalars<T> s;
  s.b2 = static_cast<T>(beta2);
  s.one_minus_b1 = static_cast<T>(1 - beta1);
  s.one_minus_b2 = static_cast<T>(1 - beta2);
  s.wd = static_cast<T>(weight_decay);
  s.decay = static_cast<T>(1 - lr * weight_decay);
  s.step_size = static_cast<T>(-(lr / (1 - pow(beta1, step))));
  s.inv_bc2_sqrt = static_cast<T>(1 / sqrt(1 - pow(beta2, step)));
  s.eps = static_cast<T>(eps);
  return s;
}

enum class AdamDecay { None, Coupled, Decoupled };

// One element. vmax is read/written only when amsgrad.
template <typename T>
TORCHLESS_HD void adam_element(T& p, T grad, T& m, T& v, T* vmax, const AdamScalars<T>& s, bool amsgrad,
                               bool maximize, AdamDecay decay) {
  T g = maximize ? -grad : grad;
  T pi = p;
  if (decay == AdamDecay::Decoupled) pi *= s.decay;
  if (decay == AdamDecay::Coupled) g += s.wd * pi;
  const T mi = m + s.one_minus_b1 * (g - m);
  const T vi = v * s.b2 + s.one_minus_b2 * g * g;
  m = mi;
  v = vi;
  T denom_src = vi;
  if (amsgrad) {
    const T vm = *vmax > vi ? *vmax : vi;
    *vmax = vm;
    denom_src = vm;
  }
  const T denom = sqrt(denom_src) * s.inv_bc2_sqrt + s.eps;
  p = pi + s.step_size * (mi / denom);
}

}  // namespace torchless::cuda::kernels
