#include "io/fashion_mnist.h"

#include <algorithm>
#include <stdexcept>

#include "io/idx.h"

namespace torchless::io {

Dataset Dataset::slice(int64_t start, int64_t count) const {
  return {images.narrow(0, start, count), labels.narrow(0, start, count)};
}

Dataset load_fashion_mnist(const std::string& dir, bool train) {
  MnistSplit split = load_mnist_split(dir, train);
  const int64_t n = split.images.dims.at(0);
  const int64_t pixels = split.images.numel() / std::max<int64_t>(n, 1);
  Dataset ds{empty({n, pixels}), empty({n}, DType::Int64)};
  float* x = ds.images.data_ptr<float>();
  const uint8_t* src = split.images.data.data();
  // (p/255 - 0.5)/0.5, in float like torchvision's ToTensor + Normalize.
  for (int64_t i = 0; i < n * pixels; ++i) x[i] = (static_cast<float>(src[i]) / 255.0f - 0.5f) / 0.5f;
  int64_t* y = ds.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) y[i] = split.labels.data[i];
  return ds;
}

const char* fashion_class_name(int64_t label) {
  static const char* kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (label < 0 || label > 9) throw std::out_of_range("fashion_class_name: label " + std::to_string(label));
  return kNames[label];
}

}  // namespace torchless::io
