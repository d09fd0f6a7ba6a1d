#pragma once
// Fashion-MNIST as training tensors, prepared the way the tutorials do:
// pixels / 255, then (x - 0.5) / 0.5, flattened to [N, 784].
#include <string>

#include "core/tensor.h"

namespace torchless::io {

struct Dataset {
  Tensor images;  ///< float32 [N, 784], normalised to [-1, 1]
  Tensor labels;  ///< int64 [N], in [0, 10)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// Rows [start, start+count) as views (no copy).
  Dataset slice(int64_t start, int64_t count) const;
};

/// Loads the train (60,000) or t10k (10,000) split from `dir`.
/// Throws std::runtime_error naming the file on a missing or malformed one.
Dataset load_fashion_mnist(const std::string& dir, bool train);

/// The ten class names, in label order ("T-shirt/top", ..., "Ankle boot").
const char* fashion_class_name(int64_t label);

}  // namespace torchless::io
