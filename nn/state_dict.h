#pragma once
// An ordered name -> tensor map: what Module::state_dict() returns and
// load_state_dict() takes, with PyTorch's key names ("fc1.weight").
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/value.h"

namespace torchless::nn {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;
  /// Appends, or replaces the tensor of an existing key (keeping its position).
  void insert(const std::string& key, const Tensor& t);
  /// The tensor for `key`, or nullptr.
  const Tensor* find(const std::string& key) const;
  /// The tensor for `key`. Throws std::out_of_range naming the key.
  const Tensor& at(const std::string& key) const;
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
};

/// What load_state_dict found: keys the module has but the dict lacks, and
/// keys the dict has but the module lacks (torch's _IncompatibleKeys).
struct LoadResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
  bool ok() const { return missing_keys.empty() && unexpected_keys.empty(); }
};

/// If every key starts with `prefix` (e.g. "module." from DataParallel),
/// returns the dict without it and sets *stripped; otherwise returns `sd`.
StateDict strip_prefix(const StateDict& sd, const std::string& prefix, bool* stripped = nullptr);

/// The dict torch.save writes for a state_dict: an OrderedDict of tensors.
io::ValuePtr to_value(const StateDict& sd);
/// Reads a state_dict out of a loaded value (a dict, OrderedDict included,
/// of str -> tensor). Throws std::invalid_argument naming `what` and the
/// offending key when the value is not a dict of tensors.
StateDict state_dict_from_value(const io::ValuePtr& v, const std::string& what = "state_dict");

/// A model's weights out of a loaded file: the 'state_dict' (or
/// 'model_state_dict') entry of a checkpoint dict, or the whole value when it
/// is a bare state_dict; a 'module.' prefix on every key is removed
/// (*stripped says so). Throws like state_dict_from_value, naming `what`.
StateDict model_state_dict_of(const io::ValuePtr& root, const std::string& what, bool* stripped = nullptr);

}  // namespace torchless::nn
