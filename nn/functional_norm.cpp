// Batch normalisation per channel of [N, C, ...], with statistics
// accumulated in double (a float running sum over N*H*W values drifts).
#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "nn/functional.h"

namespace torchless::nn::functional {
namespace {

void check_channel_tensor(const Tensor& t, int64_t C, const char* what) {
  if (t.defined() && (t.dim() != 1 || t.size(0) != C))
    throw std::invalid_argument(std::string("batch_norm: ") + what + " " + shape_str(t.sizes()) + " does not match " +
                                std::to_string(C) + " channels");
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  if (x.dim() < 2) throw std::invalid_argument("batch_norm: expected an input [N, C, ...], got " + shape_str(x.sizes()));
  if (!x.device().is_cpu()) throw std::invalid_argument("batch_norm: CUDA tensors need the CUDA backend");
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t S = N * C != 0 ? x.numel() / (N * C) : 0;  // values per (sample, channel)
  check_channel_tensor(running_mean, C, "running_mean");
  check_channel_tensor(running_var, C, "running_var");
  check_channel_tensor(weight, C, "weight");
  check_channel_tensor(bias, C, "bias");
  if (running_mean.defined() != running_var.defined())
    throw std::invalid_argument("batch_norm: running_mean and running_var must be given together");
  const bool batch_stats = training || !running_mean.defined();
  const int64_t count = N * S;
  if (batch_stats && count <= 1)
    throw std::invalid_argument("batch_norm: expected more than 1 value per channel when training, got input " +
                                shape_str(x.sizes()));
  const DType dt = x.dtype();
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.sizes(), dt);
  // Per channel: the mean and 1/sqrt(var + eps) used, kept for backward.
  Tensor mean_t = empty({C}, DType::Float64), invstd_t = empty({C}, DType::Float64);
  const Tensor w = weight.defined() ? weight.detach().to(DType::Float64).contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().to(DType::Float64).contiguous() : Tensor();
  const Tensor rm = running_mean.defined() ? running_mean.detach().to(DType::Float64).contiguous() : Tensor();
  const Tensor rv = running_var.defined() ? running_var.detach().to(DType::Float64).contiguous() : Tensor();
  std::vector<double> batch_var(static_cast<size_t>(C), 0.0);
  cpu::dispatch_float(dt, "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(xc.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    double* mean = mean_t.data_ptr<double>();
    double* invstd = invstd_t.data_ptr<double>();
#pragma omp parallel for schedule(static) if (x.numel() >= 65536)
    for (int64_t c = 0; c < C; ++c) {
      double m, v;
      if (batch_stats) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) s += in[(n * C + c) * S + i];
        m = s / static_cast<double>(count);
        double q = 0;  // two passes: no cancellation in E[x^2] - E[x]^2
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const double d = in[(n * C + c) * S + i] - m;
            q += d * d;
          }
        v = q / static_cast<double>(count);
        batch_var[c] = v;
      } else {
        m = rm.data_ptr<double>()[c];
        v = rv.data_ptr<double>()[c];
      }
      mean[c] = m;
      invstd[c] = 1.0 / std::sqrt(v + eps);
      const double scale = invstd[c] * (w.defined() ? w.data_ptr<double>()[c] : 1.0);
      const double shift = (b.defined() ? b.data_ptr<double>()[c] : 0.0) - m * scale;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i) {
          const int64_t k = (n * C + c) * S + i;
          o[k] = static_cast<T>(in[k] * scale + shift);
        }
    }
  });
  if (training && running_mean.defined()) {
    NoGradGuard no_grad;
    const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
    std::vector<double> new_mean(static_cast<size_t>(C)), new_var(static_cast<size_t>(C));
    const double* m = mean_t.data_ptr<double>();
    for (int64_t c = 0; c < C; ++c) {
      new_mean[c] = (1 - momentum) * rm.data_ptr<double>()[c] + momentum * m[c];
      new_var[c] = (1 - momentum) * rv.data_ptr<double>()[c] + momentum * batch_var[c] * unbias;
    }
    Tensor(running_mean).copy_(from_vector(new_mean, {C}, DType::Float64));
    Tensor(running_var).copy_(from_vector(new_var, {C}, DType::Float64));
  }
  if (any_requires_grad({&x, &weight, &bias})) {
    record(out, "NativeBatchNormBackward", {x, weight, bias},
           [x, weight, bias, xc, w, mean_t, invstd_t, batch_stats, N, C, S](const Tensor& grad) {
             const Tensor gc = grad.contiguous();
             const double* mean = mean_t.data_ptr<double>();
             const double* invstd = invstd_t.data_ptr<double>();
             std::vector<double> sum_g(static_cast<size_t>(C), 0.0), sum_gx(static_cast<size_t>(C), 0.0);
             Tensor dx = x.requires_grad() ? empty(x.sizes(), x.dtype()) : Tensor();
             cpu::dispatch_float(x.dtype(), "batch_norm_backward", [&](auto zero) {
               using T = decltype(zero);
               const T* in = static_cast<const T*>(xc.raw_data());
               const T* g = static_cast<const T*>(gc.raw_data());
               T* d = dx.defined() ? static_cast<T*>(dx.raw_data()) : nullptr;
               const double cnt = static_cast<double>(N * S);
#pragma omp parallel for schedule(static) if (x.numel() >= 65536)
               for (int64_t c = 0; c < C; ++c) {
                 double sg = 0, sgx = 0;  // sum(g), sum(g * xhat)
                 for (int64_t n = 0; n < N; ++n)
                   for (int64_t i = 0; i < S; ++i) {
                     const int64_t k = (n * C + c) * S + i;
                     sg += g[k];
                     sgx += g[k] * (in[k] - mean[c]) * invstd[c];
                   }
                 sum_g[c] = sg, sum_gx[c] = sgx;
                 if (!d) continue;
                 const double gamma = w.defined() ? w.data_ptr<double>()[c] : 1.0;
                 const double k1 = gamma * invstd[c];
                 for (int64_t n = 0; n < N; ++n)
                   for (int64_t i = 0; i < S; ++i) {
                     const int64_t k = (n * C + c) * S + i;
                     if (batch_stats) {
                       // d/dx of (x - mean(x)) / std(x): the batch's statistics depend on x too.
                       const double xhat = (in[k] - mean[c]) * invstd[c];
                       d[k] = static_cast<T>(k1 * (g[k] - sg / cnt - xhat * sgx / cnt));
                     } else {
                       d[k] = static_cast<T>(k1 * g[k]);
                     }
                   }
               }
             });
             Tensor dw, db;
             if (weight.defined() && weight.requires_grad())
               dw = from_vector(sum_gx, {C}, DType::Float64).to(weight.dtype());
             if (bias.defined() && bias.requires_grad()) db = from_vector(sum_g, {C}, DType::Float64).to(bias.dtype());
             return std::vector<Tensor>{dx, dw, db};
           });
  }
  return out;
}

}  // namespace torchless::nn::functional
