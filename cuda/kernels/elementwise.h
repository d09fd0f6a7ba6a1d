#pragma once
// Per-element math of the CUDA elementwise kernels, one function per op kind
// so the kernels and a CPU test (tests/cuda/elementwise_host_test.cpp) run
// the same expressions. Each expression is the one core/ops/elementwise.cpp
// computes for that op.
#include <cmath>
#include <cstdint>

#include "cuda/kernels/hd.h"

namespace torchless::cuda::kernels {

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div, Maximum,
  Eq, Ne, Lt, Le, Gt, Ge,  ///< comparisons: the result is 1 or 0 (stored as bool)
  ReluBackward,            ///< (grad, relu output): grad where the output is > 0
};

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Relu,
  AddScalar, MulScalar, Pow,  ///< with the scalar argument
  TanhBackward,               ///< from tanh's output y: 1 - y*y
  SigmoidBackward,            ///< from sigmoid's output y: y * (1 - y)
};

// float and double overloads with the C names, which are the same functions
// on the host and on the device (an unqualified exp(float) can be the
// double one on the host).
TORCHLESS_HD float hd_exp(float x) { return expf(x); }
TORCHLESS_HD double hd_exp(double x) { return ::exp(x); }
TORCHLESS_HD float hd_log(float x) { return logf(x); }
TORCHLESS_HD double hd_log(double x) { return ::log(x); }
TORCHLESS_HD float hd_sqrt(float x) { return sqrtf(x); }
TORCHLESS_HD double hd_sqrt(double x) { return ::sqrt(x); }
TORCHLESS_HD float hd_tanh(float x) { return tanhf(x); }
TORCHLESS_HD double hd_tanh(double x) { return ::tanh(x); }

constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::Ge; }

template <typename T>
TORCHLESS_HD T binary_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Maximum: return x >= y ? x : y;
    case BinaryOp::Eq: return x == y ? T(1) : T(0);
    case BinaryOp::Ne: return x != y ? T(1) : T(0);
    case BinaryOp::Lt: return x < y ? T(1) : T(0);
    case BinaryOp::Le: return x <= y ? T(1) : T(0);
    case BinaryOp::Gt: return x > y ? T(1) : T(0);
    case BinaryOp::Ge: return x >= y ? T(1) : T(0);
    case BinaryOp::ReluBackward: return y > T(0) ? x : T(0);
  }
  return T(0);
}

// `s` is the op's scalar (AddScalar, MulScalar, Pow), in double as core
// passes it; the CPU ops compute x + s and x * s in T after promoting s the
// same way (T(x) op double, rounded to T).
template <typename T>
TORCHLESS_HD T unary_apply(UnaryOp op, T x, double s) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return hd_exp(x);
    case UnaryOp::Log: return hd_log(x);
    case UnaryOp::Sqrt: return hd_sqrt(x);
    case UnaryOp::Tanh: return hd_tanh(x);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + hd_exp(-x));
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::AddScalar: return static_cast<T>(x + s);
    case UnaryOp::MulScalar: return static_cast<T>(x * s);
    case UnaryOp::Pow: return static_cast<T>(::pow(static_cast<double>(x), s));
    case UnaryOp::TanhBackward: return T(1) - x * x;
    case UnaryOp::SigmoidBackward: return x * (T(1) - x);
  }
  return T(0);
}

}  // namespace torchless::cuda::kernels
