#include "nn/fashion_classifier.h"

#include "core/ops.h"

namespace torchless::nn {

FashionClassifier::FashionClassifier(double p, Generator* gen) {
  fc1 = register_module("fc1", std::make_shared<Linear>(784, 512, true, gen));
  fc2 = register_module("fc2", std::make_shared<Linear>(512, 256, true, gen));
  fc3 = register_module("fc3", std::make_shared<Linear>(256, 128, true, gen));
  fc4 = register_module("fc4", std::make_shared<Linear>(128, 64, true, gen));
  fc5 = register_module("fc5", std::make_shared<Linear>(64, 10, true, gen));
  dropout = register_module("dropout", std::make_shared<Dropout>(p, gen));
}

Tensor FashionClassifier::forward(const Tensor& x) {
  Tensor h = x.reshape({x.size(0), -1});
  // dropout(relu(fc(h))) as in the tutorials' model, relu and dropout as one op.
  h = dropout->forward_relu((*fc1)(h));
  h = dropout->forward_relu((*fc2)(h));
  h = dropout->forward_relu((*fc3)(h));
  h = dropout->forward_relu((*fc4)(h));
  return (*fc5)(h);
}

}  // namespace torchless::nn
