#include "nn/sequential.h"

#include <stdexcept>

namespace torchless::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  for (auto& l : layers) push_back(std::move(l));
}

void Sequential::push_back(std::shared_ptr<Module> layer) { push_back(std::to_string(layers_.size()), std::move(layer)); }

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> layer) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("Sequential: a layer name must be non-empty and have no '.', got '" + name + "'");
  for (const auto& [n, c] : named_children())
    if (n == name) throw std::invalid_argument("Sequential: two layers named '" + name + "'");
  register_module(name, layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& l : layers_) h = l->forward(h);
  return h;
}

}  // namespace torchless::nn
