#include "nn/module.h"

#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "core/autograd.h"

namespace torchless::nn {
namespace {
std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "\"" : ", \"") + k + "\"";
  return out;
}
}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  t.set_requires_grad(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  if (!m) throw std::invalid_argument("register_module: null module '" + name + "'");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, bool params, bool recurse,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, t] : params ? params_ : buffers_) out.emplace_back(prefix + name, t);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, true, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", false, recurse, out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  std::unordered_set<const Module*> seen;
  struct Walker {
    static void walk(const Module& m, const std::string& path, std::unordered_set<const Module*>& seen,
                     std::vector<std::pair<std::string, const Module*>>& out) {
      if (!seen.insert(&m).second) return;
      out.emplace_back(path, &m);
      for (const auto& [n, c] : m.children_) walk(*c, path.empty() ? n : path + "." + n, seen, out);
    }
  };
  Walker::walk(*this, "", seen, out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [n, m] : std::as_const(*this).named_modules()) out.emplace_back(n, const_cast<Module*>(m));
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

StateDict Module::state_dict() const {
  // torch orders each module's own parameters, then its buffers, then children.
  StateDict sd;
  struct Walker {
    static void walk(const Module& m, const std::string& prefix, StateDict& sd) {
      for (const auto& [n, t] : m.params_) sd.insert(prefix + n, t.detach());
      for (const auto& [n, t] : m.buffers_) sd.insert(prefix + n, t.detach());
      for (const auto& [n, c] : m.children_) walk(*c, prefix + n + ".", sd);
    }
  };
  Walker::walk(*this, "", sd);
  return sd;
}

LoadResult Module::load_state_dict(const StateDict& sd, bool strict) {
  LoadResult result;
  StateDict own = state_dict();
  // Check everything before touching anything: a failed load changes nothing.
  for (const auto& [key, mine] : own) {
    const Tensor* theirs = sd.find(key);
    if (!theirs) {
      result.missing_keys.push_back(key);
      continue;
    }
    if (theirs->sizes() != mine.sizes())
      throw std::invalid_argument("load_state_dict: size mismatch for " + key + ": copying a param with shape " +
                                  shape_str(theirs->sizes()) + " from checkpoint, the shape in current model is " +
                                  shape_str(mine.sizes()));
    if (!is_floating(theirs->dtype()) && is_floating(mine.dtype()))
      throw std::invalid_argument("load_state_dict: " + key + " has dtype " + std::string(dtype_name(theirs->dtype())) +
                                  ", the model expects " + std::string(dtype_name(mine.dtype())));
  }
  for (const auto& [key, t] : sd)
    if (!own.contains(key)) result.unexpected_keys.push_back(key);
  if (strict && !result.ok()) {
    std::string msg = "load_state_dict: error(s) in loading state_dict for " + type_name() + ":";
    if (!result.missing_keys.empty()) msg += " missing key(s): " + join_keys(result.missing_keys) + ".";
    if (!result.unexpected_keys.empty()) msg += " unexpected key(s): " + join_keys(result.unexpected_keys) + ".";
    throw std::invalid_argument(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [key, mine] : own)
    if (const Tensor* theirs = sd.find(key)) Tensor(mine).copy_(*theirs);
  return result;
}

}  // namespace torchless::nn
