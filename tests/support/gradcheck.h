#pragma once
// The float64 gradient checker the tests share: autograd's gradient of
// sum(f(inputs) * w), for fixed random weights w, against central finite
// differences, element by element.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/tensor.h"

namespace torchless::test {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Random float64 tensor with entries in [lo, hi), deterministic per seed.
inline Tensor rnd(Shape shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  Tensor t = empty(shape, DType::Float64);
  uniform_(t, lo, hi, &g);
  return t;
}

// Same as rnd but every |value| >= margin (for relu/maximum away from kinks).
inline Tensor rnd_away_from_zero(Shape shape, uint64_t seed, double margin = 0.1) {
  Tensor t = rnd(shape, seed, margin, 1.0);
  Tensor sign = rnd(shape, seed + 1000);
  std::vector<double> v = t.to_vector(), s = sign.to_vector();
  for (size_t i = 0; i < v.size(); ++i) v[i] = s[i] < 0 ? -v[i] : v[i];
  return from_vector(v, shape, DType::Float64);
}

// L(inputs) = sum(f(inputs) * w) for fixed random weights w of f's output shape.
inline double loss_value(const Fn& f, const std::vector<Tensor>& in, const Tensor& w) {
  NoGradGuard ng;
  Tensor out = f(in);
  return sum(mul(out.to(DType::Float64), w)).item();
}

// Compares autograd's gradient of L with central differences for each input
// listed in `check` (all when empty). Returns a description of every
// mismatch; empty when they agree within atol + rtol*|numeric|.
inline std::string gradcheck(const Fn& f, std::vector<Tensor> inputs, std::vector<size_t> check = {},
                      double eps = 1e-6, double rtol = 1e-6, double atol = 1e-7) {
  if (check.empty())
    for (size_t i = 0; i < inputs.size(); ++i) check.push_back(i);
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor c = inputs[i].clone().detach();
    if (std::find(check.begin(), check.end(), i) != check.end()) c.set_requires_grad(true);
    leaves.push_back(c);
  }
  Tensor out = f(leaves);
  if (!out.requires_grad()) return "output does not require grad";
  Tensor w = rnd(out.sizes(), 4242, 0.5, 1.5);
  Tensor loss = sum(mul(out.to(DType::Float64), w));
  loss.backward();
  std::ostringstream err;
  for (size_t i : check) {
    Tensor x = leaves[i];
    Tensor g = x.grad();
    if (!g.defined()) {
      err << "input " << i << ": no gradient\n";
      continue;
    }
    if (g.sizes() != x.sizes()) {
      err << "input " << i << ": gradient shape " << shape_str(g.sizes()) << " vs " << shape_str(x.sizes()) << "\n";
      continue;
    }
    const std::vector<double> analytic = g.to_vector();
    double* p = x.data_ptr<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      const double orig = p[j];
      p[j] = orig + eps;
      const double lp = loss_value(f, leaves, w);
      p[j] = orig - eps;
      const double lm = loss_value(f, leaves, w);
      p[j] = orig;
      const double numeric = (lp - lm) / (2 * eps);
      if (!(std::abs(analytic[j] - numeric) <= atol + rtol * std::abs(numeric)))
        err << "input " << i << " element " << j << ": analytic " << analytic[j] << " numeric " << numeric << "\n";
    }
  }
  return err.str();
}

}  // namespace torchless::test

/// Expects gradcheck(...) to find no mismatch (prints every one it finds).
#define EXPECT_GRADCHECK(...) EXPECT_EQ(::torchless::test::gradcheck(__VA_ARGS__), "")
