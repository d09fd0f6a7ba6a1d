#pragma once
// Shapes and strides, in elements, row-major like torch.
#include <cstdint>
#include <string>
#include <vector>

namespace torchless {

using Shape = std::vector<int64_t>;

/// Product of the sizes (1 for a 0-dim shape).
int64_t shape_numel(const Shape& s);
/// Row-major (C-contiguous) strides for `s`.
Shape contiguous_strides(const Shape& s);
/// "[2, 3]".
std::string shape_str(const Shape& s);
/// Broadcast two shapes numpy-style. Throws std::invalid_argument naming both.
Shape broadcast_shapes(const Shape& a, const Shape& b);
/// Wraps a possibly negative dim into [0, ndim). Throws std::out_of_range.
int64_t wrap_dim(int64_t dim, int64_t ndim);

}  // namespace torchless
