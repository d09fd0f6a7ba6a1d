// torch.save(model) -> a runnable torchless model (see nn/whole_model.h).
#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "core/autograd.h"
#include "nn/layer_factory.h"
#include "nn/sequential.h"
#include "nn/whole_model.h"

namespace torchless::nn {
namespace {

using io::Value;
using K = io::Value::Kind;

constexpr const char* kTorchModules = "torch.nn.modules.";
constexpr size_t kMaxListed = 40;  // entries listed in a refusal before "..."

// "torch.nn.modules.conv.Conv2d" -> "Conv2d"; "" for a class outside torch.nn.modules.
std::string torch_layer_name(const std::string& class_name) {
  if (class_name.rfind(kTorchModules, 0) != 0) return "";
  return class_name.substr(class_name.rfind('.') + 1);
}

std::string where(const std::string& path) { return path.empty() ? "the root module" : "module '" + path + "'"; }

LayerArg to_arg(const io::ValuePtr& v, const std::string& what) {
  if (!v) throw std::invalid_argument(what + " is missing");
  switch (v->kind) {
    case K::None: return LayerArg::none();
    case K::Bool: return LayerArg::boolean(v->b);
    case K::Int: return LayerArg::integer(v->i);
    case K::Float: return LayerArg::real(v->f);
    case K::Str: return LayerArg::str(v->s);
    case K::Tuple:
    case K::List: {
      std::vector<LayerArg> items;
      for (const auto& x : v->items) items.push_back(to_arg(x, what));
      return LayerArg::tuple(std::move(items));
    }
    default: throw std::invalid_argument(what + " is a " + v->kind_name() + ", not a number, string or tuple");
  }
}

std::string shape_list(const std::vector<std::pair<std::string, Tensor>>& tensors, const char* flag_name,
                       const std::vector<io::NamedParameter>* params) {
  std::string out;
  size_t n = 0;
  for (const auto& [name, t] : tensors) {
    if (n++ == kMaxListed) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + name + " " + shape_str(t.sizes());
    if (params && !t.requires_grad()) out += std::string(" (") + flag_name + ")";
  }
  return out.empty() ? "none" : out;
}

// What the file holds, for a refusal: the user can still load these into a
// model built from a spec.
std::string inventory(const io::ModuleNode& root) {
  const auto params = io::named_parameters(root);
  std::vector<std::pair<std::string, Tensor>> p, b;
  for (const auto& np : params) p.emplace_back(np.name, np.tensor);
  std::unordered_set<std::string> param_names;
  for (const auto& np : params) param_names.insert(np.name);
  for (const auto& [k, t] : io::module_state(root))
    if (!param_names.count(k)) b.emplace_back(k, t);
  return "the file holds " + std::to_string(p.size()) + " parameter(s): " +
         shape_list(p, "requires_grad=False", &params) + "; and " + std::to_string(b.size()) +
         " buffer(s): " + shape_list(b, "", nullptr) +
         ". Build the architecture with --model SPEC and load these weights from a state_dict instead";
}

// Copies the file's tensors into `m`'s own (non-recursive) ones of the same
// names: every one present, none left over, shapes equal.
void load_tensors(Module& m, bool params, const std::vector<std::pair<std::string, Tensor>>& theirs,
                  const std::string& label) {
  const auto mine = params ? m.named_parameters(false) : m.named_buffers(false);
  const char* what = params ? "parameter" : "buffer";
  for (const auto& [name, t] : mine) {
    const Tensor* found = nullptr;
    for (const auto& [n, x] : theirs)
      if (n == name) found = &x;
    if (!found) throw std::invalid_argument(label + ": the file has no " + what + " '" + name + "'");
    if (found->sizes() != t.sizes())
      throw std::invalid_argument(label + ": " + what + " '" + name + "' is " + shape_str(found->sizes()) +
                                  " in the file, the layer's is " + shape_str(t.sizes()));
    NoGradGuard no_grad;
    Tensor(t).copy_(*found);
    if (params) Tensor(t).set_requires_grad(found->requires_grad());
  }
  for (const auto& [n, x] : theirs) {
    bool known = false;
    for (const auto& [name, t] : mine) known = known || name == n;
    if (!known) throw std::invalid_argument(label + ": the file has a " + what + " '" + n + "' the layer does not");
  }
}

std::shared_ptr<Module> build(const io::ModuleNode& node, const std::string& path, const io::ModuleNode& root) {
  const std::string type = torch_layer_name(node.class_name);
  const std::string label = where(path) + " (" + node.class_name + ")";
  std::shared_ptr<Module> m;
  if (type == "Sequential") {
    auto seq = std::make_shared<Sequential>();
    for (const auto& child : node.children)
      seq->push_back(child.name, build(child, path.empty() ? child.name : path + "." + child.name, root));
    m = seq;
  } else {
    const auto signature = layer_signature(type);
    const auto& known = layer_types();
    if (std::find(known.begin(), known.end(), type) == known.end()) {
      const std::string why =
          type.empty() ? "its forward() is Python code that the file does not hold, and torchless runs only "
                         "torch's own modules (Sequential and the layers it implements)"
                       : "torchless does not implement " + type;
      throw std::invalid_argument("cannot rebuild " + label + ": " + why + "; " + inventory(root));
    }
    LayerArgs args;
    for (const auto& name : signature) {
      if (name == "bias" && (type == "Linear" || type == "Conv2d")) {
        bool has_bias = false;
        for (const auto& [n, t] : node.parameters) has_bias = has_bias || n == "bias";
        args.keyword.emplace_back(name, LayerArg::boolean(has_bias));
      } else if (io::ValuePtr v = io::module_attribute(node, name)) {
        args.keyword.emplace_back(name, to_arg(v, label + ": attribute '" + name + "'"));
      }
    }
    try {
      m = make_layer(type, args);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(label + ": " + e.what());
    }
    if (!node.children.empty())
      throw std::invalid_argument(label + ": a " + type + " with submodules ('" + node.children[0].name + "') is not torch's");
  }
  load_tensors(*m, true, node.parameters, label);
  load_tensors(*m, false, node.buffers, label);
  return m;
}

// Pre-order, so that each module's own flag overrides what its parent's train() set.
void apply_training(Module& m, const io::ModuleNode& node) {
  m.train(node.training);
  const auto children = m.named_children();
  for (size_t k = 0; k < children.size() && k < node.children.size(); ++k)
    apply_training(*children[k].second, node.children[k]);
}

}  // namespace

std::shared_ptr<Module> module_from_tree(const io::ModuleNode& root) {
  std::shared_ptr<Module> m = build(root, "", root);
  apply_training(*m, root);
  return m;
}

std::shared_ptr<Module> module_from_value(const io::ValuePtr& root) { return module_from_tree(io::module_tree(root)); }

}  // namespace torchless::nn
