#include "core/cpu/copy.h"

#include <algorithm>
#include <cstring>

#include "core/cpu/dispatch.h"
#include "core/cpu/strided.h"

namespace torchless::cpu {

void copy_strided(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    std::memmove(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  dispatch_all(dst.dtype(), [&](auto dzero) {
    using D = decltype(dzero);
    dispatch_all(src.dtype(), [&](auto szero) {
      using S = decltype(szero);
      D* d = static_cast<D*>(dst.raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      for_each_row<2>(dst.sizes(), {&dst.strides(), &src.strides()},
                      [&](const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st, int64_t n) {
                        D* dp = d + off[0];
                        const S* sp = s + off[1];
                        for (int64_t i = 0; i < n; ++i) dp[i * st[0]] = convert<D>(sp[i * st[1]]);
                      });
    });
  });
}

void fill_strided(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), [&](auto zero) {
    using D = decltype(zero);
    const D v = convert<D>(value);
    D* d = static_cast<D*>(dst.raw_data());
    if (dst.is_contiguous()) {
      std::fill(d, d + dst.numel(), v);
      return;
    }
    for_each_row<1>(dst.sizes(), {&dst.strides()},
                    [&](const std::array<int64_t, 1>& off, const std::array<int64_t, 1>& st, int64_t n) {
                      for (int64_t i = 0; i < n; ++i) d[off[0] + i * st[0]] = v;
                    });
  });
}

}  // namespace torchless::cpu
