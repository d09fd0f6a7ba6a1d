// Host half of the CUDA Adam kernel: the per-element update from
// cuda/kernels/adam.h must be equal to optim::Adam on the CPU
// up to FMA contraction (same expression order and scalars otherwise).
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"
#include "cuda/kernels/adam.h"
#include "optim/adam.h"

namespace k = torchless::cuda::kernels;
using namespace torchless;

namespace {

int64_t ulp_distance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = INT32_MIN - ia;
  if (ib < 0) ib = INT32_MIN - ib;
  return ia > ib ? int64_t{ia} - ib : int64_t{ib} - ia;
}

void run_case(const optim::AdamOptions& o) {
  const int64_t n = 257;
  std::mt19937 rng(1234);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> p0(n);
  for (auto& x : p0) x = d(rng);

  Tensor p = zeros({n}, DType::Float32, Device::cpu());
  std::memcpy(p.raw_data(), p0.data(), n * sizeof(float));
  p.set_requires_grad(true);
  optim::Adam opt({p}, o);

  std::vector<float> hp = p0, hm(n, 0.f), hv(n, 0.f), hvmax(n, 0.f);
  const k::AdamDecay decay = o.weight_decay == 0 ? k::AdamDecay::None
                             : o.decoupled_weight_decay ? k::AdamDecay::Decoupled
                                                        : k::AdamDecay::Coupled;
  for (int step = 1; step <= 5; ++step) {
    std::vector<float> g(n);
    for (auto& x : g) x = d(rng);
    Tensor gt = zeros({n}, DType::Float32, Device::cpu());
    std::memcpy(gt.raw_data(), g.data(), n * sizeof(float));
    p.set_grad(gt);
    opt.step();
    const auto s = k::adam_scalars<float>(o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, step);
    for (int64_t i = 0; i < n; ++i)
      k::adam_element(hp[i], g[i], hm[i], hv[i], &hvmax[i], s, o.amsgrad, o.maximize, decay);
    const float* cp = static_cast<const float*>(p.raw_data());
    // Not bit-equal: the CPU build (-march=native, vectorised) and nvcc
    // (--fmad=true) contract a*b+c into FMAs at different places. One rounding
    // of an intermediate of magnitude <= ~4 is <= 4 * 2^-24; where p - step
    // cancels that is many ulps of the result, so the bound is absolute.
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(hp[i], cp[i], 1e-6f) << "step " << step << " element " << i << " ulps " << ulp_distance(hp[i], cp[i]);
  }
}

}  // namespace

TEST(CudaAdamHost, PlainAdamMatchesCpu) { run_case({}); }

TEST(CudaAdamHost, AmsgradMaximizeCoupledDecayMatchesCpu) {
  optim::AdamOptions o;
  o.lr = 3e-2;
  o.weight_decay = 0.1;
  o.amsgrad = true;
  o.maximize = true;
  run_case(o);
}

TEST(CudaAdamHost, AdamWDecoupledDecayMatchesCpu) {
  optim::AdamOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.05;
  o.decoupled_weight_decay = true;
  o.amsgrad = true;
  run_case(o);
}
