// Elementwise arithmetic with broadcasting, and its gradients.
#include <cmath>

#include "core/autograd.h"
#include "core/cpu/dispatch.h"
#include "core/cpu/elementwise.h"
#include "core/ops.h"
#include "cuda/kernels/elementwise.h"
#ifdef TORCHLESS_WITH_CUDA
#include "cuda/ops.h"
#endif

namespace torchless {
namespace {

using cuda::kernels::BinaryOp;
using cuda::kernels::UnaryOp;

void check_cpu(const Tensor& t, const char* op) {
  if (!t.device().is_cpu())
    throw std::invalid_argument(std::string(op) + ": tensor on " + t.device().str() +
                                " needs the CUDA backend's kernels (not available in this build)");
}

DType promote(const Tensor& a, const Tensor& b, const char* op) {
  const DType x = a.dtype(), y = b.dtype();
  if (x == y) return x;
  if (x == DType::Float64 || y == DType::Float64) return DType::Float64;
  if (x == DType::Float32 || y == DType::Float32) return DType::Float32;
  throw std::invalid_argument(std::string(op) + ": cannot compute with dtypes " + std::string(dtype_name(x)) +
                              " and " + std::string(dtype_name(y)));
}

// a and b detached, converted to their promoted dtype and expanded to
// their broadcast shape; errors name `op`.
struct Operands {
  Tensor x, y;
  DType dt;
  Shape shape;
};
Operands broadcast_operands(const Tensor& a, const Tensor& b, const char* op) {
  const DType dt = promote(a, b, op);
  Shape shape;
  try {
    shape = broadcast_shapes(a.sizes(), b.sizes());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(op) + ": " + e.what());
  }
  Tensor x = a.dtype() == dt ? a.detach() : a.detach().to(dt);
  Tensor y = b.dtype() == dt ? b.detach() : b.detach().to(dt);
  if (x.sizes() != shape) x = x.expand(shape);
  if (y.sizes() != shape) y = y.expand(shape);
  return {x, y, dt, shape};
}

bool on_cuda(const Tensor& a, const Tensor& b) { return a.device().is_cuda() || b.device().is_cuda(); }

// Runs binary op `kop` on the device of a and b (which must be one).
Tensor binary_cuda(const Tensor& a, const Tensor& b, const char* op, BinaryOp kop, std::optional<DType> out_dtype);

// Runs f over broadcast operands into a new tensor of dtype `out_dtype`
// (the compute dtype when out_dtype is unset); CUDA operands go to `kop`.
template <typename F>
Tensor binary_forward(const Tensor& a, const Tensor& b, const char* op, F f, BinaryOp kop,
                      std::optional<DType> out_dtype = {}) {
  if (on_cuda(a, b)) return binary_cuda(a, b, op, kop, out_dtype);
  check_cpu(a, op);
  check_cpu(b, op);
  const auto [x, y, dt, shape] = broadcast_operands(a, b, op);
  const DType odt = out_dtype.value_or(dt);
  Tensor out = empty(shape, odt);
  cpu::dispatch_float(dt, op, [&](auto zero) {
    using T = decltype(zero);
    if (odt == DType::Bool) cpu::binary_kernel<T, bool>(out, x, y, f);
    else cpu::binary_kernel<T, T>(out, x, y, f);
  });
  return out;
}

Tensor binary_cuda(const Tensor& a, const Tensor& b, const char* op, BinaryOp kop, std::optional<DType> out_dtype) {
#ifdef TORCHLESS_WITH_CUDA
  if (a.device() != b.device())
    throw std::invalid_argument(std::string(op) + ": tensors on " + a.device().str() + " and " + b.device().str() +
                                " (expected all tensors on one device)");
  const auto [x, y, dt, shape] = broadcast_operands(a, b, op);
  Tensor out = empty(shape, out_dtype.value_or(dt), a.device());
  cuda::binary(kop, x, y, out);
  return out;
#else
  (void)kop;
  (void)out_dtype;
  check_cpu(a.device().is_cuda() ? a : b, op);
  return Tensor();
#endif
}

// Runs unary op `kop` (with `scalar`) on a's CUDA device.
Tensor unary_cuda(const Tensor& a, const char* op, UnaryOp kop, double scalar) {
#ifdef TORCHLESS_WITH_CUDA
  (void)op;
  Tensor out = empty(a.sizes(), a.dtype(), a.device());
  cuda::unary(kop, a.detach(), scalar, out);
  return out;
#else
  (void)kop;
  (void)scalar;
  check_cpu(a, op);
  return Tensor();
#endif
}

template <typename F>
Tensor unary_forward(const Tensor& a, const char* op, F f, UnaryOp kop, double scalar = 0) {
  if (a.device().is_cuda()) return unary_cuda(a, op, kop, scalar);
  check_cpu(a, op);
  Tensor out = empty(a.sizes(), a.dtype());
  cpu::dispatch_float(a.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    cpu::unary_kernel<T>(out, a, [&](T v) { return static_cast<T>(f(v)); });
  });
  return out;
}

// Gradient for an input of shape `shape` from a broadcast gradient.
Tensor reduce_grad(const Tensor& g, const Tensor& input) {
  Tensor r = g.sizes() == input.sizes() ? g : sum_to(g, input.sizes());
  return r.dtype() == input.dtype() ? r : r.to(input.dtype());
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "add", [](auto x, auto y) { return x + y; }, BinaryOp::Add);
  if (any_requires_grad({&a, &b}))
    record(out, "AddBackward", {a, b}, [a, b](const Tensor& g) {
      return std::vector<Tensor>{a.requires_grad() ? reduce_grad(g, a) : Tensor(),
                                 b.requires_grad() ? reduce_grad(g, b) : Tensor()};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "sub", [](auto x, auto y) { return x - y; }, BinaryOp::Sub);
  if (any_requires_grad({&a, &b}))
    record(out, "SubBackward", {a, b}, [a, b](const Tensor& g) {
      return std::vector<Tensor>{a.requires_grad() ? reduce_grad(g, a) : Tensor(),
                                 b.requires_grad() ? reduce_grad(neg(g), b) : Tensor()};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "mul", [](auto x, auto y) { return x * y; }, BinaryOp::Mul);
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record(out, "MulBackward", {a, b}, [a, b, ad, bd](const Tensor& g) {
      return std::vector<Tensor>{a.requires_grad() ? reduce_grad(mul(g, bd), a) : Tensor(),
                                 b.requires_grad() ? reduce_grad(mul(g, ad), b) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "div", [](auto x, auto y) { return x / y; }, BinaryOp::Div);
  if (any_requires_grad({&a, &b})) {
    Tensor bd = b.detach(), od = out.detach();
    record(out, "DivBackward", {a, b}, [a, b, bd, od](const Tensor& g) {
      // d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2 = -out/b
      return std::vector<Tensor>{a.requires_grad() ? reduce_grad(div(g, bd), a) : Tensor(),
                                 b.requires_grad() ? reduce_grad(neg(div(mul(g, od), bd)), b) : Tensor()};
    });
  }
  return out;
}

Tensor add(const Tensor& a, double s) {
  Tensor out = unary_forward(a, "add", [s](auto x) { return x + s; }, UnaryOp::AddScalar, s);
  if (any_requires_grad({&a}))
    record(out, "AddScalarBackward", {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = unary_forward(a, "mul", [s](auto x) { return x * s; }, UnaryOp::MulScalar, s);
  if (any_requires_grad({&a}))
    record(out, "MulScalarBackward", {a}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
  return out;
}

Tensor pow(const Tensor& a, double e) {
  Tensor out = unary_forward(a, "pow", [e](auto x) { return std::pow(x, e); }, UnaryOp::Pow, e);
  if (any_requires_grad({&a})) {
    Tensor ad = a.detach();
    record(out, "PowBackward", {a}, [ad, e](const Tensor& g) {
      return std::vector<Tensor>{mul(g, mul(pow(ad, e - 1), e))};
    });
  }
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = unary_forward(a, "neg", [](auto x) { return -x; }, UnaryOp::Neg);
  if (any_requires_grad({&a}))
    record(out, "NegBackward", {a}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor exp(const Tensor& a) {
  Tensor out = unary_forward(a, "exp", [](auto x) { return std::exp(x); }, UnaryOp::Exp);
  if (any_requires_grad({&a})) {
    Tensor od = out.detach();
    record(out, "ExpBackward", {a}, [od](const Tensor& g) { return std::vector<Tensor>{mul(g, od)}; });
  }
  return out;
}

Tensor log(const Tensor& a) {
  Tensor out = unary_forward(a, "log", [](auto x) { return std::log(x); }, UnaryOp::Log);
  if (any_requires_grad({&a})) {
    Tensor ad = a.detach();
    record(out, "LogBackward", {a}, [ad](const Tensor& g) { return std::vector<Tensor>{div(g, ad)}; });
  }
  return out;
}

Tensor sqrt(const Tensor& a) {
  Tensor out = unary_forward(a, "sqrt", [](auto x) { return std::sqrt(x); }, UnaryOp::Sqrt);
  if (any_requires_grad({&a})) {
    Tensor od = out.detach();
    record(out, "SqrtBackward", {a}, [od](const Tensor& g) { return std::vector<Tensor>{div(mul(g, 0.5), od)}; });
  }
  return out;
}

Tensor tanh(const Tensor& a) {
  Tensor out = unary_forward(a, "tanh", [](auto x) { return std::tanh(x); }, UnaryOp::Tanh);
  if (any_requires_grad({&a})) {
    Tensor od = out.detach();
    record(out, "TanhBackward", {a}, [od](const Tensor& g) {
      Tensor d = unary_forward(od, "tanh_backward", [](auto y) { return 1 - y * y; }, UnaryOp::TanhBackward);
      return std::vector<Tensor>{mul(g, d)};
    });
  }
  return out;
}

Tensor sigmoid(const Tensor& a) {
  Tensor out = unary_forward(a, "sigmoid", [](auto x) { return 1 / (1 + std::exp(-x)); }, UnaryOp::Sigmoid);
  if (any_requires_grad({&a})) {
    Tensor od = out.detach();
    record(out, "SigmoidBackward", {a}, [od](const Tensor& g) {
      Tensor d = unary_forward(od, "sigmoid_backward", [](auto y) { return y * (1 - y); }, UnaryOp::SigmoidBackward);
      return std::vector<Tensor>{mul(g, d)};
    });
  }
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out = unary_forward(a, "relu", [](auto x) { return x > 0 ? x : decltype(x)(0); }, UnaryOp::Relu);
  if (any_requires_grad({&a})) {
    Tensor od = out.detach();
    record(out, "ReluBackward", {a}, [od](const Tensor& g) {
      Tensor gi = binary_forward(g, od, "relu_backward", [](auto gv, auto y) { return y > 0 ? gv : decltype(gv)(0); }, BinaryOp::ReluBackward);
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, "maximum", [](auto x, auto y) { return x >= y ? x : y; }, BinaryOp::Maximum);
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record(out, "MaximumBackward", {a, b}, [a, b, ad, bd](const Tensor& g) {
      Tensor mask_a = ge(ad, bd).to(g.dtype());
      Tensor ga = mul(g, mask_a);
      return std::vector<Tensor>{a.requires_grad() ? reduce_grad(ga, a) : Tensor(),
                                 b.requires_grad() ? reduce_grad(sub(g, ga), b) : Tensor()};
    });
  }
  return out;
}

// ---- comparisons ----
#define TORCHLESS_COMPARE(NAME, EXPR, KOP)                                                            \
  Tensor NAME(const Tensor& a, const Tensor& b) {                                                      \
    return binary_forward(a, b, #NAME, [](auto x, auto y) { return EXPR; }, BinaryOp::KOP, DType::Bool); \
  }
TORCHLESS_COMPARE(eq, x == y, Eq)
TORCHLESS_COMPARE(ne, x != y, Ne)
TORCHLESS_COMPARE(lt, x < y, Lt)
TORCHLESS_COMPARE(le, x <= y, Le)
TORCHLESS_COMPARE(gt, x > y, Gt)
TORCHLESS_COMPARE(ge, x >= y, Ge)
#undef TORCHLESS_COMPARE

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.sizes() != b.sizes()) return false;
  const auto x = a.to_vector(), y = b.to_vector();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) return false;
    if (std::abs(x[i] - y[i]) > atol + rtol * std::abs(y[i])) return false;
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  return a.sizes() == b.sizes() && a.dtype() == b.dtype() && a.to_vector() == b.to_vector();
}

}  // namespace torchless
