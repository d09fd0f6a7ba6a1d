#include "io/torch_module.h"

#include <stdexcept>
#include <unordered_set>

namespace torchless::io {
namespace {

using K = Value::Kind;

// Deeper module nesting than this is not a real model (and would recurse unboundedly).
constexpr int kMaxModuleDepth = 256;

// The attribute dict of a pickled object: BUILD's state, which is either a
// dict or a (dict, slots) pair (both merged by a lookup in order).
ValuePtr attr(const ValuePtr& obj, std::string_view key) {
  if (!obj || obj->kind != K::Object || !obj->state) return nullptr;
  const ValuePtr& st = obj->state;
  if (st->kind == K::Dict) return st->get(key);
  if (st->kind == K::Tuple) {
    for (const auto& part : st->items)
      if (part && part->kind == K::Dict)
        if (ValuePtr v = part->get(key)) return v;
  }
  return nullptr;
}

std::string class_name_of(const ValuePtr& obj) {
  const ValuePtr& c = obj->callable;
  if (c && c->kind == K::Global) return c->s.empty() ? c->name : c->s + "." + c->name;
  return c ? repr(c, 2) : std::string("?");
}

std::string path_of(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// name -> tensor pairs of a `_parameters`/`_buffers` dict; None values skipped.
std::vector<std::pair<std::string, Tensor>> tensor_entries(const ValuePtr& d, const std::string& where,
                                                           const char* what) {
  std::vector<std::pair<std::string, Tensor>> out;
  if (!d || d->is_none()) return out;
  if (!d->is_dict()) throw std::invalid_argument(where + ": '" + what + "' is a " + d->kind_name() + ", not a dict");
  for (const auto& [k, v] : d->entries) {
    if (!k || k->kind != K::Str) throw std::invalid_argument(where + ": a key of '" + what + "' is not a string");
    if (!v || v->is_none()) continue;
    if (!v->is_tensor())
      throw std::invalid_argument(where + ": " + what + "['" + k->s + "'] is a " + v->kind_name() + ", not a tensor");
    out.emplace_back(k->s, v->tensor);
  }
  return out;
}

ModuleNode build(const ValuePtr& obj, const std::string& name, const std::string& where, int depth) {
  if (depth > kMaxModuleDepth) throw std::invalid_argument(where + ": modules nested too deeply");
  if (!is_pickled_module(obj))
    throw std::invalid_argument((where.empty() ? std::string("root") : "'" + where + "'") +
                                " is not a pickled nn.Module (an object whose state has _parameters and _modules), but " +
                                (obj ? (obj->kind == K::Object ? "object " + class_name_of(obj) : obj->kind_name())
                                     : std::string("nothing")));
  ModuleNode n;
  n.name = name;
  n.class_name = class_name_of(obj);
  n.object = obj;
  const std::string label = where.empty() ? n.class_name : where;
  if (ValuePtr t = attr(obj, "training")) {
    if (t->kind != K::Bool) throw std::invalid_argument(label + ": 'training' is not a bool");
    n.training = t->b;
  }
  n.parameters = tensor_entries(attr(obj, "_parameters"), label, "_parameters");
  std::unordered_set<std::string> non_persistent;
  if (ValuePtr s = attr(obj, "_non_persistent_buffers_set"); s && (s->kind == K::List || s->kind == K::Tuple))
    for (const auto& x : s->items)
      if (x && x->kind == K::Str) non_persistent.insert(x->s);
  for (auto& [k, t] : tensor_entries(attr(obj, "_buffers"), label, "_buffers"))
    (non_persistent.count(k) ? n.non_persistent_buffers : n.buffers).emplace_back(k, t);
  ValuePtr mods = attr(obj, "_modules");
  if (mods && !mods->is_none()) {
    if (!mods->is_dict()) throw std::invalid_argument(label + ": '_modules' is not a dict");
    for (const auto& [k, v] : mods->entries) {
      if (!k || k->kind != K::Str) throw std::invalid_argument(label + ": a key of '_modules' is not a string");
      if (!v || v->is_none()) continue;
      n.children.push_back(build(v, k->s, path_of(where, k->s), depth + 1));
    }
  }
  return n;
}

void collect(const ModuleNode& m, const std::string& prefix, bool params_only,
             std::unordered_set<const void*>& seen, std::vector<std::pair<std::string, Tensor>>& out) {
  for (const auto& [k, t] : m.parameters) {
    if (params_only && !seen.insert(t.impl_ptr().get()).second) continue;
    out.emplace_back(path_of(prefix, k), t);
  }
  if (!params_only)
    for (const auto& [k, t] : m.buffers) out.emplace_back(path_of(prefix, k), t);
  for (const auto& c : m.children) collect(c, path_of(prefix, c.name), params_only, seen, out);
}

}  // namespace

bool is_pickled_module(const ValuePtr& v) {
  return v && v->kind == K::Object && attr(v, "_parameters") && attr(v, "_modules");
}

ModuleNode module_tree(const ValuePtr& root) { return build(root, "", "", 0); }

ValuePtr module_attribute(const ModuleNode& m, std::string_view key) { return attr(m.object, key); }

std::vector<NamedParameter> named_parameters(const ModuleNode& root) {
  std::unordered_set<const void*> seen;
  std::vector<std::pair<std::string, Tensor>> flat;
  collect(root, "", true, seen, flat);
  std::vector<NamedParameter> out;
  out.reserve(flat.size());
  for (auto& [k, t] : flat) out.push_back({k, t, t.requires_grad()});
  return out;
}

std::vector<std::pair<std::string, Tensor>> module_state(const ModuleNode& root) {
  std::unordered_set<const void*> seen;
  std::vector<std::pair<std::string, Tensor>> out;
  collect(root, "", false, seen, out);
  for (auto& [k, t] : out) t = t.detach();
  return out;
}

}  // namespace torchless::io
