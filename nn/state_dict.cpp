#include "nn/state_dict.h"

#include <stdexcept>

namespace torchless::nn {

void StateDict::insert(const std::string& key, const Tensor& t) {
  for (auto& [k, v] : items_)
    if (k == key) {
      v = t;
      return;
    }
  items_.emplace_back(key, t);
}

const Tensor* StateDict::find(const std::string& key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return &v;
  return nullptr;
}

const Tensor& StateDict::at(const std::string& key) const {
  if (const Tensor* t = find(key)) return *t;
  throw std::out_of_range("state_dict has no key '" + key + "'");
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

StateDict strip_prefix(const StateDict& sd, const std::string& prefix, bool* stripped) {
  if (stripped) *stripped = false;
  if (sd.empty()) return sd;
  for (const auto& [k, v] : sd)
    if (k.rfind(prefix, 0) != 0) return sd;
  StateDict out;
  for (const auto& [k, v] : sd) out.insert(k.substr(prefix.size()), v);
  if (stripped) *stripped = true;
  return out;
}

}  // namespace torchless::nn
