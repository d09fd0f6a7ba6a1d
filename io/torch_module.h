#pragma once
// Whole pickled modules (`torch.save(model)`) read without running anything:
// the inert Object tree the unpickler makes is walked for nn.Module's
// attribute dict (`_parameters`, `_buffers`, `_non_persistent_buffers_set`,
// `_modules`, `training`), giving the module hierarchy, its parameters (with
// requires_grad as saved) and its buffers, named the way torch names them.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/value.h"

namespace torchless::io {

struct ModuleNode {
  std::string name;        ///< attribute name in the parent ("" for the root)
  std::string class_name;  ///< "torch.nn.modules.linear.Linear", "__main__.Net"
  bool training = true;
  std::vector<std::pair<std::string, Tensor>> parameters;  ///< `_parameters`, None entries skipped
  /// Persistent `_buffers` (None entries and `_non_persistent_buffers_set` skipped).
  std::vector<std::pair<std::string, Tensor>> buffers;
  /// Buffer names listed in `_non_persistent_buffers_set` (present in `_buffers`).
  std::vector<std::pair<std::string, Tensor>> non_persistent_buffers;
  std::vector<ModuleNode> children;  ///< `_modules`, None entries skipped
  /// The pickled object itself, for its other attributes (a layer's
  /// hyper-parameters: in_features, kernel_size, eps, ...).
  ValuePtr object;
};

/// The attribute `key` of a module's pickled object (from its BUILD state),
/// or nullptr when it has none.
ValuePtr module_attribute(const ModuleNode& m, std::string_view key);

/// The module tree under `root` (a loaded checkpoint's root, or any value
/// inside one). Throws std::invalid_argument if `root` is not a pickled
/// nn.Module: an Object whose state dict has `_parameters` and `_modules`.
ModuleNode module_tree(const ValuePtr& root);

/// True when `v` looks like a pickled nn.Module (see module_tree).
bool is_pickled_module(const ValuePtr& v);

struct NamedParameter {
  std::string name;  ///< "layer1.0.weight"
  Tensor tensor;
  bool requires_grad = true;  ///< as saved
};

/// Every parameter, depth-first in registration order, like
/// Module.named_parameters() (a tensor registered twice is listed once).
std::vector<NamedParameter> named_parameters(const ModuleNode& root);

/// What Module.state_dict() would hold: each module's parameters then its
/// persistent buffers, depth-first, keys joined with '.'. Tensors are
/// detached (as torch's state_dict holds them).
std::vector<std::pair<std::string, Tensor>> module_state(const ModuleNode& root);

}  // namespace torchless::io
