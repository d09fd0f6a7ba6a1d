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

io::ValuePtr to_value(const StateDict& sd) {
  auto d = io::Value::dict("collections.OrderedDict");
  for (const auto& [k, t] : sd) d->set(k, io::Value::from_tensor(t.detach()));
  return d;
}

StateDict state_dict_from_value(const io::ValuePtr& v, const std::string& what) {
  if (!v || !v->is_dict())
    throw std::invalid_argument(what + ": expected a dict of tensors, got " + (v ? v->kind_name() : "nothing"));
  StateDict sd;
  for (const auto& [k, t] : v->entries) {
    if (!k || k->kind != io::Value::Kind::Str)
      throw std::invalid_argument(what + ": a key is not a string: " + io::repr(k, 2));
    if (!t || !t->is_tensor())
      throw std::invalid_argument(what + ": '" + k->s + "' is not a tensor but " + (t ? t->kind_name() : "nothing"));
    sd.insert(k->s, t->tensor);
  }
  return sd;
}

StateDict model_state_dict_of(const io::ValuePtr& root, const std::string& what, bool* stripped) {
  io::ValuePtr sd = root;
  if (root && root->is_dict()) {
    if (io::ValuePtr inner = root->get("state_dict")) sd = inner;
    else if (io::ValuePtr inner2 = root->get("model_state_dict")) sd = inner2;
  }
  return strip_prefix(state_dict_from_value(sd, what), "module.", stripped);
}

}  // namespace torchless::nn
