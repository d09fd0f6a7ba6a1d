#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"

namespace torchless::nn {

/// Children applied in order, named "0", "1", ... (keys "0.weight", like
/// torch) unless given names.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  /// Appends a layer named by its index.
  void push_back(std::shared_ptr<Module> layer);
  /// Appends a layer under `name` (torch's Sequential(OrderedDict(...))).
  /// Throws std::invalid_argument if the name is empty, has a '.', or is taken.
  void push_back(const std::string& name, std::shared_ptr<Module> layer);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) const { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace torchless::nn
