#pragma once
// The tutorials' Fashion-MNIST model, with PyTorch's exact keys:
//   fc1 784->512, fc2 512->256, fc3 256->128, fc4 128->64, fc5 64->10,
//   ReLU then Dropout(p) after each hidden layer; returns logits [B, 10].
#include <memory>

#include "nn/activation.h"
#include "nn/linear.h"

namespace torchless::nn {

class FashionClassifier : public Module {
 public:
  explicit FashionClassifier(double dropout = 0.2, Generator* gen = nullptr);
  /// x: [B, 1, 28, 28] or [B, 784]  ->  logits [B, 10].
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "FashionClassifier"; }

  std::shared_ptr<Linear> fc1, fc2, fc3, fc4, fc5;
  std::shared_ptr<Dropout> dropout;
};

}  // namespace torchless::nn
