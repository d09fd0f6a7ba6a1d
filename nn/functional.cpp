#include "nn/functional.h"

#include <cmath>
#include <stdexcept>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "core/generator.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless::nn::functional {
namespace {

void check_classification(const Tensor& x, const Tensor& target, const char* op) {
  if (x.dim() != 2) throw std::invalid_argument(std::string(op) + ": input must be [B, C], got " + shape_str(x.sizes()));
  if (target.dtype() != DType::Int64 || target.dim() != 1 || target.size(0) != x.size(0))
    throw std::invalid_argument(std::string(op) + ": target must be int64 [" + std::to_string(x.size(0)) + "], got " +
                                std::string(dtype_name(target.dtype())) + " " + shape_str(target.sizes()));
  // Device targets are checked by the kernel (a NaN loss): reading them here
  // would synchronise with the device every step.
  if (!target.device().is_cpu()) return;
  const int64_t* t = static_cast<const int64_t*>(target.contiguous().raw_data());
  for (int64_t i = 0; i < target.numel(); ++i)
    if (t[i] < 0 || t[i] >= x.size(1))
      throw std::invalid_argument(std::string(op) + ": target " + std::to_string(t[i]) + " at position " +
                                  std::to_string(i) + " is out of bounds for " + std::to_string(x.size(1)) + " classes");
}

void check_probability(double p) {
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument("dropout: probability has to be between 0 and 1, got " + std::to_string(p));
}

// Counter-based: element i keeps when 24 bits of hash(key, i) are >= p.
// One generator draw per call, so the stream (and resuming) does not depend
// on the thread count, and masks fill in parallel.
struct KeepMask {
  uint64_t key;
  uint32_t threshold;
  KeepMask(double p, Generator* gen)
      : key((gen ? *gen : default_generator()).next_u64()),
        threshold(static_cast<uint32_t>(std::ceil(p * 16777216.0))) {}
  bool keep(int64_t i) const {
    // splitmix64's finaliser over key + i * golden ratio: a bijection with
    // full avalanche, so neighbouring counters give independent bits.
    uint64_t z = key + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<uint32_t>(z >> 40) >= threshold;
  }
};

double keep_scale(double p) { return p == 1.0 ? 0.0 : 1.0 / (1.0 - p); }

// Dropout (after relu when relu_first) of a CUDA tensor: the Philox mask of
// cuda/kernels/philox.h keyed by one draw from the generator, as the CPU
// path draws one key per call (so the generator's stream stays the same on
// either device; the masks themselves differ). Backward recomputes the mask.
Tensor dropout_cuda(const Tensor& x, double p, Generator* gen, bool relu_first) {
#ifdef TORCHLESS_WITH_CUDA
  const Tensor xc = x.detach().contiguous();
  const uint64_t seed = (gen ? *gen : default_generator()).next_u64();
  Tensor out = empty(x.sizes(), x.dtype(), x.device());
  cuda::dropout(xc, p, seed, 0, relu_first, out);
  if (any_requires_grad({&x})) {
    record(out, relu_first ? "DropoutReluBackward" : "DropoutBackward", {x}, [xc, p, seed, relu_first](const Tensor& g) {
      const Tensor gc = g.contiguous();
      Tensor gi = empty(g.sizes(), g.dtype(), g.device());
      cuda::dropout_backward(gc, relu_first ? xc : Tensor(), p, seed, 0, gi);
      return std::vector<Tensor>{gi};
    });
  }
  return out;
#else
  (void)gen;
  (void)p;
  (void)relu_first;
  throw std::invalid_argument("dropout: tensor on " + x.device().str() + " needs the CUDA backend");
#endif
}

// cross_entropy of CUDA logits and targets, fused on the device.
Tensor cross_entropy_cuda(const Tensor& logits, const Tensor& target) {
#ifdef TORCHLESS_WITH_CUDA
  if (target.device() != logits.device())
    throw std::invalid_argument("cross_entropy: logits on " + logits.device().str() + " but target on " +
                                target.device().str());
  const Tensor x = logits.detach().contiguous(), tc = target.contiguous();
  Tensor lse = empty({x.size(0)}, DType::Float32, x.device());
  Tensor loss = empty({}, x.dtype(), x.device());
  cuda::cross_entropy_forward(x, tc, lse, loss);
  if (any_requires_grad({&logits})) {
    record(loss, "CrossEntropyBackward", {logits}, [x, tc, lse](const Tensor& g) {
      Tensor gi = empty(x.sizes(), x.dtype(), x.device());
      cuda::cross_entropy_backward(x, tc, lse, g.contiguous(), gi);
      return std::vector<Tensor>{gi};
    });
  }
  return loss;
#else
  (void)target;
  throw std::invalid_argument("cross_entropy: tensor on " + logits.device().str() + " needs the CUDA backend");
#endif
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_probability(p);
  if (!training || p == 0.0) return x;
  if (x.device().is_cuda()) return dropout_cuda(x, p, gen, false);
  Tensor mask = empty(x.sizes(), x.dtype());
  const KeepMask keep(p, gen);
  cpu::dispatch_float(x.dtype(), "dropout", [&](auto zero) {
    using T = decltype(zero);
    T* m = static_cast<T*>(mask.raw_data());
    const T s = static_cast<T>(keep_scale(p));
    const int64_t n = mask.numel();
#pragma omp parallel for if (n >= 16384) schedule(static)  // hashing: compute-bound
    for (int64_t i = 0; i < n; ++i) m[i] = keep.keep(i) ? s : T(0);
  });
  return mul(x, mask);
}

Tensor dropout_relu(const Tensor& x, double p, bool training, Generator* gen) {
  check_probability(p);
  if (!training || p == 0.0) return relu(x);
  if (x.device().is_cuda()) return dropout_cuda(x, p, gen, true);
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.sizes(), x.dtype());
  // The gradient's factor per element: the dropout scale (or 0) where relu
  // passed x, -1 where it did not (there the gradient is 0 whatever g is,
  // as relu's own backward gives).
  Tensor grad_factor = empty(x.sizes(), x.dtype());
  const KeepMask keep(p, gen);
  cpu::dispatch_float(x.dtype(), "dropout", [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(xc.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    T* f = static_cast<T*>(grad_factor.raw_data());
    const T s = static_cast<T>(keep_scale(p));
    const int64_t n = out.numel();
#pragma omp parallel for if (n >= 16384) schedule(static)  // hashing: compute-bound
    for (int64_t i = 0; i < n; ++i) {
      const T r = in[i] > 0 ? in[i] : T(0);  // relu, as relu() computes it
      const T m = keep.keep(i) ? s : T(0);   // dropout's mask, as dropout() draws it
      o[i] = r * m;
      f[i] = r > 0 ? m : T(-1);
    }
  });
  if (any_requires_grad({&x})) {
    record(out, "DropoutReluBackward", {x}, [grad_factor](const Tensor& g) {
      const Tensor gc = g.contiguous();
      Tensor gi = empty(g.sizes(), g.dtype());
      cpu::dispatch_float(g.dtype(), "dropout", [&](auto zero) {
        using T = decltype(zero);
        const T* gv = static_cast<const T*>(gc.raw_data());
        const T* f = static_cast<const T*>(grad_factor.raw_data());
        T* o = static_cast<T*>(gi.raw_data());
        const int64_t n = gi.numel();
        // Same split as the forward's, so each thread reads the factors it wrote.
#pragma omp parallel for if (n >= 16384) schedule(static)
        for (int64_t i = 0; i < n; ++i) o[i] = f[i] >= 0 ? gv[i] * f[i] : T(0);
      });
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x.dim());
  if (dim != x.dim() - 1) {
    // Move `dim` last, compute, move back.
    return log_softmax(x.transpose(dim, -1), -1).transpose(dim, -1);
  }
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.sizes(), x.dtype());
  const int64_t C = x.numel() ? x.size(-1) : 1;
  const int64_t rows = C ? x.numel() / C : 0;
  cpu::dispatch_float(x.dtype(), "log_softmax", [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(xc.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = in + r * C;
      T mx = row[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, row[c]);
      T s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(row[c] - mx);
      const T lse = mx + std::log(s);
      for (int64_t c = 0; c < C; ++c) o[r * C + c] = row[c] - lse;
    }
  });
  if (any_requires_grad({&x})) {
    Tensor od = out.detach();
    record(out, "LogSoftmaxBackward", {x}, [od](const Tensor& g) {
      // dx = g - softmax * sum(g)
      Tensor softmax = exp(od);
      return std::vector<Tensor>{sub(g, mul(softmax, sum(g, {-1}, true)))};
    });
  }
  return out;
}

Tensor nll_loss(const Tensor& logp, const Tensor& target) {
  check_classification(logp, target, "nll_loss");
  Tensor lp = logp.detach().contiguous();
  const Tensor tc = target.contiguous();
  const int64_t* t = static_cast<const int64_t*>(tc.raw_data());
  const int64_t B = logp.size(0), C = logp.size(1);
  double total = 0;
  cpu::dispatch_float(logp.dtype(), "nll_loss", [&](auto zero) {
    using T = decltype(zero);
    const T* p = static_cast<const T*>(lp.raw_data());
    for (int64_t i = 0; i < B; ++i) total -= p[i * C + t[i]];
  });
  Tensor out = scalar_tensor(B ? total / static_cast<double>(B) : NAN, logp.dtype());
  if (any_requires_grad({&logp})) {
    const Shape shape = logp.sizes();
    const DType dt = logp.dtype();
    record(out, "NllLossBackward", {logp}, [tc, shape, dt, B, C](const Tensor& g) {
      Tensor gi = zeros(shape, dt);
      const double scale = -g.item() / static_cast<double>(B);
      const int64_t* tt = static_cast<const int64_t*>(tc.raw_data());
      cpu::dispatch_float(dt, "nll_loss_backward", [&](auto zero) {
        using T = decltype(zero);
        T* p = static_cast<T*>(gi.raw_data());
        for (int64_t i = 0; i < B; ++i) p[i * C + tt[i]] = static_cast<T>(scale);
      });
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  check_classification(logits, target, "cross_entropy");
  if (logits.device().is_cuda()) return cross_entropy_cuda(logits, target);
  Tensor x = logits.detach().contiguous();
  const Tensor tc = target.contiguous();
  const int64_t* t = static_cast<const int64_t*>(tc.raw_data());
  const int64_t B = logits.size(0), C = logits.size(1);
  Tensor probs = empty(logits.sizes(), logits.dtype());  // softmax, kept for backward
  double total = 0;
  cpu::dispatch_float(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(x.raw_data());
    T* pr = static_cast<T*>(probs.raw_data());
    for (int64_t i = 0; i < B; ++i) {
      const T* row = in + i * C;
      T* prow = pr + i * C;
      T mx = row[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, row[c]);
      T s = 0;
      for (int64_t c = 0; c < C; ++c) s += (prow[c] = std::exp(row[c] - mx));
      const T inv = T(1) / s;
      for (int64_t c = 0; c < C; ++c) prow[c] *= inv;
      total += static_cast<double>(mx + std::log(s) - row[t[i]]);
    }
  });
  Tensor out = scalar_tensor(B ? total / static_cast<double>(B) : NAN, logits.dtype());
  if (any_requires_grad({&logits})) {
    record(out, "CrossEntropyBackward", {logits}, [probs, tc, B, C](const Tensor& g) {
      // d/dlogits = (softmax - onehot(target)) * g / B, written over probs' copy.
      Tensor gi = empty(probs.sizes(), probs.dtype());
      const double scale = g.item() / static_cast<double>(B);
      const int64_t* tt = static_cast<const int64_t*>(tc.raw_data());
      cpu::dispatch_float(probs.dtype(), "cross_entropy_backward", [&](auto zero) {
        using T = decltype(zero);
        const T* p = static_cast<const T*>(probs.raw_data());
        T* o = static_cast<T*>(gi.raw_data());
        const T s = static_cast<T>(scale);
        for (int64_t i = 0; i < B; ++i)
          for (int64_t c = 0; c < C; ++c) o[i * C + c] = (p[i * C + c] - (c == tt[i] ? T(1) : T(0))) * s;
      });
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

}  // namespace torchless::nn::functional

namespace torchless::nn::functional {

Tensor softmax(const Tensor& x, int64_t dim) { return exp(log_softmax(x, dim)); }

Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (approximate != "none" && approximate != "tanh")
    throw std::invalid_argument("gelu: approximate must be 'none' or 'tanh', got '" + approximate + "'");
  if (!x.device().is_cpu()) throw std::invalid_argument("gelu: CUDA tensors need the CUDA backend");
  const bool use_tanh = approximate == "tanh";
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty(x.sizes(), x.dtype());
  constexpr double kSqrt2OverPi = 0.7978845608028654, kInvSqrt2 = 0.7071067811865476, kCubic = 0.044715;
  cpu::dispatch_float(x.dtype(), "gelu", [&](auto zero) {
    using T = decltype(zero);
    const T* in = static_cast<const T*>(xc.raw_data());
    T* o = static_cast<T*>(out.raw_data());
    const int64_t n = out.numel();
#pragma omp parallel for if (n >= 65536) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const T v = in[i];
      o[i] = use_tanh ? T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(kCubic) * v * v * v)))
                      : T(0.5) * v * (T(1) + std::erf(v * T(kInvSqrt2)));
    }
  });
  if (any_requires_grad({&x})) {
    record(out, "GeluBackward", {x}, [xc, use_tanh](const Tensor& g) {
      const Tensor gc = g.contiguous();
      Tensor gi = empty(g.sizes(), g.dtype());
      cpu::dispatch_float(g.dtype(), "gelu_backward", [&](auto zero) {
        using T = decltype(zero);
        const T* in = static_cast<const T*>(xc.raw_data());
        const T* gv = static_cast<const T*>(gc.raw_data());
        T* o = static_cast<T*>(gi.raw_data());
        const int64_t n = gi.numel();
#pragma omp parallel for if (n >= 65536) schedule(static)
        for (int64_t i = 0; i < n; ++i) {
          const T v = in[i];
          T d;
          if (use_tanh) {
            const T t = std::tanh(T(kSqrt2OverPi) * (v + T(kCubic) * v * v * v));
            d = T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kCubic) * v * v);
          } else {
            d = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2))) + v * std::exp(T(-0.5) * v * v) * T(kInvSqrt2 / 1.7724538509055159);
          }
          o[i] = gv[i] * d;
        }
      });
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

}  // namespace torchless::nn::functional
