#include "core/cpu/gemm.h"

#include <Eigen/Core>

#include "core/cpu/dispatch.h"

namespace torchless::cpu {
namespace {

template <typename T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, 0, Eigen::OuterStride<>>;

template <typename T, int Order>
MatMap<T, Order> as_matrix(const Tensor& t) {
  const int64_t outer = Order == Eigen::RowMajor ? t.stride(0) : t.stride(1);
  // A size-1 dim may carry any stride; give Eigen a consistent one.
  const int64_t fallback = Order == Eigen::RowMajor ? t.size(1) : t.size(0);
  const bool degenerate = Order == Eigen::RowMajor ? t.size(0) == 1 : t.size(1) == 1;
  return MatMap<T, Order>(static_cast<const T*>(t.raw_data()), t.size(0), t.size(1),
                          Eigen::OuterStride<>(degenerate ? std::max<int64_t>(fallback, 1) : outer));
}

bool row_major(const Tensor& t) { return t.stride(1) == 1 || (t.size(1) == 1 && t.stride(0) != 1); }

template <typename T, int OA, int OB>
void run(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> C(
      static_cast<T*>(c.raw_data()), c.size(0), c.size(1));
  auto A = as_matrix<T, OA>(a);
  auto B = as_matrix<T, OB>(b);
  if (beta == 0.0) C.noalias() = A * B;
  else if (beta == 1.0) C.noalias() += A * B;
  else {
    C *= static_cast<T>(beta);
    C.noalias() += A * B;
  }
}

}  // namespace

bool gemm_compatible(const Tensor& t) {
  if (t.dim() != 2) return false;
  const bool rows_ok = t.size(0) == 1 || t.stride(0) > 0;
  const bool cols_ok = t.size(1) == 1 || t.stride(1) > 0;
  return rows_ok && cols_ok && (t.stride(1) == 1 || t.stride(0) == 1 || t.size(0) == 1 || t.size(1) == 1);
}

void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double beta) {
  dispatch_float(c.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
    const bool ra = row_major(a), rb = row_major(b);
    if (ra && rb) run<T, R, R>(a, b, c, beta);
    else if (ra) run<T, R, C>(a, b, c, beta);
    else if (rb) run<T, C, R>(a, b, c, beta);
    else run<T, C, C>(a, b, c, beta);
  });
}

}  // namespace torchless::cpu
