// Random factories drawing from a torchless Generator.
#include <numeric>

#include "core/cpu/dispatch.h"
#include "core/generator.h"
#include "core/ops.h"

namespace torchless {

Tensor& uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  if (!t.is_contiguous() || !t.device().is_cpu())
    throw std::invalid_argument("uniform_: needs a contiguous CPU tensor");
  cpu::dispatch_float(t.dtype(), "uniform_", [&](auto zero) {
    using T = decltype(zero);
    T* p = static_cast<T*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double u = std::is_same_v<T, float> ? g.uniform_float() : g.uniform_double();
      p[i] = static_cast<T>(lo + (hi - lo) * u);
    }
  });
  return t;
}

Tensor rand(Shape shape, DType dtype, Generator* gen) {
  Tensor t = empty(std::move(shape), dtype);
  return uniform_(t, 0.0, 1.0, gen);
}

Tensor randn(Shape shape, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(std::move(shape), dtype);
  cpu::dispatch_float(dtype, "randn", [&](auto zero) {
    using T = decltype(zero);
    T* p = static_cast<T*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(g.normal());
  });
  return t;
}

Tensor randperm(int64_t n, Generator* gen) {
  if (n < 0) throw std::invalid_argument("randperm: n must be non-negative");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = static_cast<int64_t*>(t.raw_data());
  std::iota(p, p + n, int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[g.below(static_cast<uint64_t>(i) + 1)]);
  return t;
}

}  // namespace torchless
