#pragma once
#include "core/tensor.h"

namespace torchless::cpu {
/// dst[i] = convert(src[i]) for CPU tensors of equal shape (any strides/dtypes).
void copy_strided(const Tensor& dst, const Tensor& src);
/// dst[i] = value (converted to dst's dtype), any strides.
void fill_strided(const Tensor& dst, double value);
}  // namespace torchless::cpu
