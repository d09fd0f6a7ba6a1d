// The CUDA kernels behind core's ops (cuda/*.cu, cuda/gemm.cpp), each
// against the CPU backend on the same inputs within float32 tolerance.
// Every test needs a GPU and reports "skipped: no CUDA device" without one;
// none of them has run on a GPU yet (issue #12: tools/gpu-check runs them).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "cuda/kernels/philox.h"
#include "nn/functional.h"
#include "optim/adam.h"
#include "support/cuda_skip.h"

using namespace torchless;
namespace F = torchless::nn::functional;

namespace {

const Device kGpu = Device::cuda(0);

Tensor on_cpu(const Tensor& t) { return t.to(Device::cpu()); }

// Deterministic values in [-scale, scale), some exactly 0.
Tensor values(Shape shape, uint64_t seed, double scale = 2.0) {
  Generator g(seed);
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = (g.uniform_double() * 2 - 1) * scale;
  if (n > 3) v[3] = 0;
  return from_vector(v, shape);
}

// gpu (any device) is within rtol/atol of cpu, element for element; says the worst element.
void expect_close(const Tensor& gpu, const Tensor& cpu, const std::string& what, double rtol = 1e-5,
                  double atol = 1e-6) {
  ASSERT_TRUE(gpu.defined()) << what;
  ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
  EXPECT_EQ(gpu.dtype(), cpu.dtype()) << what;
  const auto x = on_cpu(gpu).to_vector(), y = cpu.to_vector();
  double worst = 0;
  size_t at = 0;
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const bool both_nan = std::isnan(x[i]) && std::isnan(y[i]);
    const double err = std::abs(x[i] - y[i]);
    if (!both_nan && !(err <= atol + rtol * std::abs(y[i]))) {
      ++bad;
      if (!(err <= worst)) worst = err, at = i;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements off, worst at " << at << ": gpu " << x[at] << " cpu "
                    << y[at];
}

}  // namespace

TEST(CudaOps, BinaryBroadcastingMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor a = values({4, 1, 5}, 1), b = values({3, 5}, 2);
  const Tensor at = values({5, 3}, 3).t();  // a transposed (non-contiguous) operand
  const Tensor ga = a.to(kGpu), gb = b.to(kGpu), gat = at.to(kGpu).t().contiguous().t();
  ASSERT_FALSE(gat.is_contiguous());
  expect_close(add(ga, gb), add(a, b), "add");
  expect_close(sub(ga, gb), sub(a, b), "sub");
  expect_close(mul(ga, gb), mul(a, b), "mul");
  expect_close(div(ga, gb), div(a, b), "div");
  expect_close(maximum(ga, gb), maximum(a, b), "maximum");
  expect_close(add(gb, gat), add(b, at), "add with a transposed operand");
  expect_close(mul(ga, 0.5), mul(a, 0.5), "mul scalar");
  expect_close(add(ga, -1.25), add(a, -1.25), "add scalar");
  for (auto [name, op] : std::vector<std::pair<const char*, Tensor (*)(const Tensor&, const Tensor&)>>{
           {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}}) {
    const Tensor got = op(ga, gb);
    EXPECT_EQ(got.dtype(), DType::Bool) << name;
    EXPECT_TRUE(equal(on_cpu(got), op(a, b))) << name;
  }
  // Float64 runs too.
  expect_close(mul(ga.to(DType::Float64), gb.to(DType::Float64)), mul(a.to(DType::Float64), b.to(DType::Float64)),
               "mul float64", 1e-12, 1e-14);
}

TEST(CudaOps, UnaryOpsMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor x = values({7, 9}, 4), pos = add(mul(values({7, 9}, 5), 0.5), 1.5);  // pos in [0.5, 2.5)
  const Tensor gx = x.to(kGpu), gpos = pos.to(kGpu);
  expect_close(neg(gx), neg(x), "neg");
  expect_close(exp(gx), exp(x), "exp");
  expect_close(log(gpos), log(pos), "log");
  expect_close(sqrt(gpos), sqrt(pos), "sqrt");
  expect_close(tanh(gx), tanh(x), "tanh");
  expect_close(sigmoid(gx), sigmoid(x), "sigmoid");
  expect_close(relu(gx), relu(x), "relu");
  expect_close(pow(gpos, 1.5), pow(pos, 1.5), "pow");
  expect_close(relu(gx.t()), relu(x.t()), "relu of a transposed view");
}

TEST(CudaOps, ReluAndElementwiseBackwardMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor x0 = values({16, 12}, 6), w0 = values({12}, 7), g0 = values({16, 12}, 8);
  Tensor x = x0.clone().set_requires_grad(), w = w0.clone().set_requires_grad();
  Tensor gx = x0.to(kGpu).set_requires_grad(), gw = w0.to(kGpu).set_requires_grad();
  mul(relu(x), w).backward(g0);
  mul(relu(gx), gw).backward(g0.to(kGpu));
  expect_close(gx.grad(), x.grad(), "d relu(x)*w / dx");
  expect_close(gw.grad(), w.grad(), "d relu(x)*w / dw (summed over the broadcast rows)");
  EXPECT_EQ(gx.grad().device(), kGpu);
}

TEST(CudaOps, SumOverDimsMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor x = values({3, 4, 5}, 9), gx = x.to(kGpu);
  expect_close(sum(gx), sum(x), "sum of all");
  expect_close(mean(gx), mean(x), "mean of all");
  for (const Shape& dims : std::vector<Shape>{{0}, {1}, {2}, {0, 2}, {-1}, {0, 1, 2}}) {
    expect_close(sum(gx, dims), sum(x, dims), "sum over " + shape_str(dims));
    expect_close(sum(gx, dims, true), sum(x, dims, true), "sum keepdim over " + shape_str(dims));
  }
  expect_close(sum(gx.transpose(0, 2), {1}), sum(x.transpose(0, 2), {1}), "sum of a transposed view");
  const Tensor big = values({1000, 513}, 10), gbig = big.to(kGpu);
  expect_close(sum(gbig, {0}), sum(big, {0}), "bias-gradient shape sum", 1e-5, 1e-5);
  expect_close(sum(gbig), sum(big), "large sum", 1e-5, 1e-3);
}

TEST(CudaOps, ArgmaxMatchesCpuWithTiesAndNaN) {
  REQUIRE_CUDA_DEVICE();
  Tensor x = values({6, 10}, 11);
  std::vector<double> v = x.to_vector();
  v[1 * 10 + 2] = v[1 * 10 + 7] = 50;  // a tie: the first wins
  v[2 * 10 + 4] = std::numeric_limits<double>::quiet_NaN();  // NaN counts as the maximum
  v[3 * 10 + 0] = 60;
  x = from_vector(v, {6, 10});
  const Tensor gx = x.to(kGpu);
  for (int64_t dim : {0, 1, -1}) {
    const Tensor got = argmax(gx, dim);
    EXPECT_EQ(got.dtype(), DType::Int64);
    EXPECT_TRUE(equal(on_cpu(got), argmax(x, dim))) << "dim " << dim;
  }
  EXPECT_TRUE(equal(on_cpu(argmax(gx, 1, true)), argmax(x, 1, true)));
  EXPECT_TRUE(equal(on_cpu(argmax(gx.t(), 0)), argmax(x.t(), 0)));
}

TEST(CudaOps, CrossEntropyForwardBackwardMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const int64_t B = 64, C = 10;
  const Tensor logits0 = values({B, C}, 12, 4.0);
  std::vector<double> t(B);
  for (int64_t i = 0; i < B; ++i) t[static_cast<size_t>(i)] = static_cast<double>((i * 7 + 3) % C);
  const Tensor target = from_vector(t, {B}, DType::Int64);
  Tensor logits = logits0.clone().set_requires_grad();
  Tensor glogits = logits0.to(kGpu).set_requires_grad();
  const Tensor loss = F::cross_entropy(logits, target);
  const Tensor gloss = F::cross_entropy(glogits, target.to(kGpu));
  EXPECT_EQ(gloss.device(), kGpu);
  expect_close(gloss, loss, "loss");
  loss.backward();
  gloss.backward();
  expect_close(glogits.grad(), logits.grad(), "d loss / d logits");
  // An upstream gradient other than 1 scales it.
  Tensor l2 = logits0.clone().set_requires_grad(), g2 = logits0.to(kGpu).set_requires_grad();
  mul(F::cross_entropy(l2, target), 3.0).backward();
  mul(F::cross_entropy(g2, target.to(kGpu)), 3.0).backward();
  expect_close(g2.grad(), l2.grad(), "scaled gradient");
}

TEST(CudaOps, DropoutUsesThePhiloxMaskAndItsGradient) {
  REQUIRE_CUDA_DEVICE();
  const double p = 0.3;
  const Tensor x0 = values({37, 29}, 13);
  Generator gen(1234), twin(1234);
  const uint64_t seed = twin.next_u64();  // the one draw dropout makes
  Tensor gx = x0.to(kGpu).set_requires_grad();
  const Tensor out = F::dropout(gx, p, true, &gen);
  EXPECT_EQ(gen.next_u64(), twin.next_u64()) << "dropout must draw exactly one value";
  // The host math of cuda/kernels/philox.h, element by element.
  const std::vector<double> xv = x0.to_vector(), got = on_cpu(out).to_vector();
  int kept = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const float want = torchless::cuda::kernels::dropout_element(static_cast<float>(xv[i]), static_cast<float>(p),
                                                                 seed, 0, i);
    EXPECT_NEAR(got[i], want, 1e-6 * std::abs(want)) << i;
    kept += want != 0;
  }
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(xv.size()), 1 - p, 0.06);
  // Backward: the same mask and scale.
  const Tensor g = values({37, 29}, 14);
  out.backward(g.to(kGpu));
  const std::vector<double> gv = g.to_vector(), gi = on_cpu(gx.grad()).to_vector();
  for (size_t i = 0; i < gv.size(); ++i) {
    const bool keep = got[i] != 0 || xv[i] == 0;
    if (xv[i] == 0) continue;  // kept or not, 0 either way: the mask is unknown here
    EXPECT_NEAR(gi[i], keep ? gv[i] / (1 - p) : 0.0, 1e-5) << i;
  }
  // dropout_relu: zero where x <= 0, otherwise dropout's.
  Generator gen2(99);
  Tensor gr = x0.to(kGpu).set_requires_grad();
  const Tensor outr = F::dropout_relu(gr, p, true, &gen2);
  Generator twin2(99);
  const uint64_t seed2 = twin2.next_u64();
  const std::vector<double> gotr = on_cpu(outr).to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const float r = xv[i] > 0 ? static_cast<float>(xv[i]) : 0.0f;
    EXPECT_NEAR(gotr[i], torchless::cuda::kernels::dropout_element(r, static_cast<float>(p), seed2, 0, i), 1e-6) << i;
  }
  outr.backward(g.to(kGpu));
  const std::vector<double> gir = on_cpu(gr.grad()).to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const float want =
        xv[i] > 0 ? torchless::cuda::kernels::dropout_element(static_cast<float>(gv[i]), static_cast<float>(p), seed2, 0, i)
                  : 0.0f;
    EXPECT_NEAR(gir[i], want, 1e-5) << i;
  }
  // Not training, or p == 0: the input itself.
  EXPECT_TRUE(F::dropout(gx, p, false).is_same(gx));
}

TEST(CudaOps, LinearAndMatmulMatchCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor x0 = values({64, 784}, 15, 1.0), w0 = values({512, 784}, 16, 0.05), b0 = values({512}, 17, 0.1);
  Tensor x = x0.clone().set_requires_grad(), w = w0.clone().set_requires_grad(), b = b0.clone().set_requires_grad();
  Tensor gx = x0.to(kGpu).set_requires_grad(), gw = w0.to(kGpu).set_requires_grad(),
         gb = b0.to(kGpu).set_requires_grad();
  const Tensor y = linear(x, w, b), gy = linear(gx, gw, gb);
  EXPECT_EQ(gy.device(), kGpu);
  expect_close(gy, y, "linear forward (bias epilogue)", 1e-4, 1e-5);
  const Tensor g = values({64, 512}, 18);
  y.backward(g);
  gy.backward(g.to(kGpu));
  expect_close(gx.grad(), x.grad(), "linear dx", 1e-4, 1e-5);
  expect_close(gw.grad(), w.grad(), "linear dw", 1e-4, 1e-5);
  expect_close(gb.grad(), b.grad(), "linear db", 1e-4, 1e-5);
  // Without a bias, odd sizes, transposed operands.
  const Tensor a = values({33, 17}, 19), m = values({17, 9}, 20);
  expect_close(linear(a.to(kGpu), m.t().to(kGpu), Tensor()), linear(a, m.t(), Tensor()), "linear without bias", 1e-5,
               1e-5);
  expect_close(matmul(a.to(kGpu), m.to(kGpu)), matmul(a, m), "matmul", 1e-5, 1e-5);
  expect_close(matmul(m.t().to(kGpu), a.t().to(kGpu)), matmul(m.t(), a.t()), "matmul of transposes", 1e-5, 1e-5);
  const Tensor mt = m.to(kGpu).t();  // a transposed device view, no copy
  expect_close(matmul(mt, a.to(kGpu).t()), matmul(m.t(), a.t()), "matmul of device views", 1e-5, 1e-5);
  expect_close(matmul(a.to(DType::Float64).to(kGpu), m.to(DType::Float64).to(kGpu)),
               matmul(a.to(DType::Float64), m.to(DType::Float64)), "matmul float64", 1e-12, 1e-12);
}

TEST(CudaOps, FillAndDeviceCopies) {
  REQUIRE_CUDA_DEVICE();
  for (DType t : {DType::Float32, DType::Float64, DType::Int64, DType::Float16, DType::Bool, DType::Int8}) {
    EXPECT_TRUE(equal(on_cpu(full({3, 5}, 1.0, t, kGpu)), full({3, 5}, 1.0, t))) << dtype_name(t);
    EXPECT_TRUE(equal(on_cpu(zeros({7}, t, kGpu)), zeros({7}, t))) << dtype_name(t);
  }
  EXPECT_TRUE(equal(on_cpu(full({4}, -2.5, DType::Float32, kGpu)), full({4}, -2.5)));
  // fill_ of a view leaves the rest.
  const Tensor x0 = values({6, 8}, 21);
  Tensor gx = x0.to(kGpu), cx = x0.clone();
  gx.slice(1, 1, 8, 3).fill_(9.0);
  cx.slice(1, 1, 8, 3).fill_(9.0);
  EXPECT_TRUE(equal(on_cpu(gx), cx));
  // Device-to-device strided copies: contiguous() of views, copy_ into a view.
  EXPECT_TRUE(equal(on_cpu(gx.t().contiguous()), cx.t().contiguous()));
  EXPECT_TRUE(equal(on_cpu(gx.slice(0, 1, 6, 2).contiguous()), cx.slice(0, 1, 6, 2).contiguous()));
  Tensor dst = zeros({8, 6}, DType::Float32, kGpu), cdst = zeros({8, 6});
  dst.slice(0, 0, 8, 2).copy_(gx.t().slice(0, 0, 8, 2));
  cdst.slice(0, 0, 8, 2).copy_(cx.t().slice(0, 0, 8, 2));
  EXPECT_TRUE(equal(on_cpu(dst), cdst));
  // A broadcast (expanded) source.
  Tensor row = values({1, 8}, 22);
  Tensor bdst = empty({5, 8}, DType::Float32, kGpu);
  bdst.copy_(row.to(kGpu).expand({5, 8}));
  EXPECT_TRUE(equal(on_cpu(bdst), row.expand({5, 8}).contiguous()));
}

// Adam on device parameters against optim::Adam on the CPU, 5 steps.
void adam_case(optim::AdamOptions o, bool adamw) {
  std::vector<Tensor> cpu_params, gpu_params;
  for (int i = 0; i < 3; ++i) {
    const Tensor p = values({i == 0 ? 300 : 7, i == 2 ? 1 : 5}, 30 + static_cast<uint64_t>(i));
    cpu_params.push_back(p.clone().set_requires_grad());
    gpu_params.push_back(p.to(kGpu).set_requires_grad());
  }
  std::unique_ptr<optim::Adam> cpu_opt, gpu_opt;
  if (adamw) {
    cpu_opt = std::make_unique<optim::AdamW>(cpu_params, o);
    gpu_opt = std::make_unique<optim::AdamW>(gpu_params, o);
  } else {
    cpu_opt = std::make_unique<optim::Adam>(cpu_params, o);
    gpu_opt = std::make_unique<optim::Adam>(gpu_params, o);
  }
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      const Tensor g = values(cpu_params[i].sizes(), 100 + static_cast<uint64_t>(step * 10) + i);
      cpu_params[i].set_grad(g);
      gpu_params[i].set_grad(g.to(kGpu));
    }
    cpu_opt->step();
    gpu_opt->step();
  }
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    expect_close(gpu_params[i].detach(), cpu_params[i].detach(), "param " + std::to_string(i), 1e-5, 1e-6);
    expect_close(gpu_opt->state(i).exp_avg, cpu_opt->state(i).exp_avg, "exp_avg " + std::to_string(i), 1e-5, 1e-7);
    expect_close(gpu_opt->state(i).exp_avg_sq, cpu_opt->state(i).exp_avg_sq, "exp_avg_sq " + std::to_string(i), 1e-5,
                 1e-7);
    if (o.amsgrad)
      expect_close(gpu_opt->state(i).max_exp_avg_sq, cpu_opt->state(i).max_exp_avg_sq, "max_exp_avg_sq", 1e-5, 1e-7);
    EXPECT_EQ(gpu_opt->state(i).exp_avg.device(), kGpu);
  }
}

TEST(CudaOps, AdamMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  adam_case({}, false);
}

TEST(CudaOps, AdamAmsgradMaximizeCoupledDecayMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  optim::AdamOptions o;
  o.lr = 0.01;
  o.amsgrad = true;
  o.maximize = true;
  o.weight_decay = 0.1;
  adam_case(o, false);
}

TEST(CudaOps, AdamWMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  adam_case(optim::AdamW::defaults(), true);
}

// The MLP's whole step (Linear, ReLU, Linear, cross-entropy, backward, Adam)
// on both devices from the same weights: the same parameters after 3 steps.
TEST(CudaOps, TrainingStepMatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  const Tensor w1 = values({32, 20}, 40, 0.2), b1 = values({32}, 41, 0.1), w2 = values({10, 32}, 42, 0.2),
               b2 = values({10}, 43, 0.1);
  std::vector<Tensor> cpu{w1.clone(), b1.clone(), w2.clone(), b2.clone()}, gpu;
  for (auto& t : cpu) {
    gpu.push_back(t.to(kGpu).set_requires_grad());
    t.set_requires_grad();
  }
  // A large eps: Adam scales every update to about lr, so a gradient that is
  // rounding noise on one device (near 0, either sign) would otherwise move
  // a weight by lr in opposite directions on the two.
  optim::AdamOptions o;
  o.eps = 1e-3;
  optim::Adam cpu_opt(cpu, o), gpu_opt(gpu, o);
  std::vector<double> tv(16);
  for (size_t i = 0; i < tv.size(); ++i) tv[i] = static_cast<double>(i % 10);
  const Tensor target = from_vector(tv, {16}, DType::Int64), gtarget = target.to(kGpu);
  for (int step = 0; step < 3; ++step) {
    const Tensor x = values({16, 20}, 50 + static_cast<uint64_t>(step));
    cpu_opt.zero_grad();
    gpu_opt.zero_grad();
    const Tensor loss = F::cross_entropy(linear(relu(linear(x, cpu[0], cpu[1])), cpu[2], cpu[3]), target);
    const Tensor gloss =
        F::cross_entropy(linear(relu(linear(x.to(kGpu), gpu[0], gpu[1])), gpu[2], gpu[3]), gtarget);
    expect_close(gloss, loss, "loss at step " + std::to_string(step), 1e-5, 1e-6);
    loss.backward();
    gloss.backward();
    cpu_opt.step();
    gpu_opt.step();
  }
  for (size_t i = 0; i < cpu.size(); ++i)
    expect_close(gpu[i].detach(), cpu[i].detach(), "parameter " + std::to_string(i), 1e-4, 1e-5);
}
