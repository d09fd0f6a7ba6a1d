#pragma once
// nn.Module: registered parameters, buffers and children, train/eval mode,
// and state_dict()/load_state_dict() with PyTorch's key names.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace torchless::nn {

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The module's computation on one input.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  /// Class name as PyTorch spells it ("Linear", "Sequential").
  virtual std::string type_name() const = 0;

  /// Parameters (recursively) as "child.name" paths, in registration order.
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  /// Direct children, in registration order.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  /// This module (named "") and every descendant, depth-first in
  /// registration order, as dotted paths ("layer1", "layer1.0"); a module
  /// registered twice is listed once (torch's named_modules()).
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<std::pair<std::string, const Module*>> named_modules() const;

  /// Sets training mode here and in every child (affects Dropout).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Drops every parameter's gradient (torch's zero_grad(set_to_none=True)).
  void zero_grad();

  /// Parameters and buffers, detached, keyed like PyTorch.
  StateDict state_dict() const;
  /// Copies matching tensors in. Throws std::invalid_argument naming the key
  /// and both shapes on any shape mismatch; with strict, also when keys are
  /// missing or unexpected (listing them). On a throw nothing was changed.
  LoadResult load_state_dict(const StateDict& sd, bool strict = true);

 protected:
  /// Registers a parameter (requires_grad on unless told otherwise); returns the handle.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, bool params, bool recurse,
               std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace torchless::nn
