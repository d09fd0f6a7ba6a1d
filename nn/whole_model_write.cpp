// A torchless model -> the object tree torch.save(model) writes (see
// nn/whole_model.h): each module an object of torch's own class, made with
// NEWOBJ and given its __dict__ by BUILD, in torch 1.13's attribute layout
// (torch 2.x's Module.__setstate__ adds the hook dicts it has since added).
#include <stdexcept>

#include "io/torch_rebuild.h"
#include "nn/layer_factory.h"
#include "nn/sequential.h"
#include "nn/whole_model.h"

namespace torchless::nn {
namespace {

using io::Value;
using io::ValuePtr;

// The torch.nn.modules submodule that defines each class.
std::string torch_module_of(const std::string& type) {
  static const std::pair<const char*, const char*> kHomes[] = {
      {"Sequential", "container"}, {"Linear", "linear"},       {"Identity", "linear"},
      {"Conv2d", "conv"},          {"MaxPool2d", "pooling"},   {"AvgPool2d", "pooling"},
      {"AdaptiveAvgPool2d", "pooling"}, {"BatchNorm1d", "batchnorm"}, {"BatchNorm2d", "batchnorm"},
      {"ReLU", "activation"},      {"Sigmoid", "activation"},  {"Tanh", "activation"},
      {"GELU", "activation"},      {"Softmax", "activation"},  {"LogSoftmax", "activation"},
      {"Dropout", "dropout"},      {"Flatten", "flatten"},
  };
  for (const auto& [t, home] : kHomes)
    if (type == t) return std::string("torch.nn.modules.") + home;
  return "";
}

ValuePtr to_value(const LayerArg& a) {
  switch (a.kind) {
    case LayerArg::Kind::None: return Value::none();
    case LayerArg::Kind::Bool: return Value::boolean(a.b);
    case LayerArg::Kind::Int: return Value::integer(a.i);
    case LayerArg::Kind::Float: return Value::floating(a.f);
    case LayerArg::Kind::Str: return Value::str(a.s);
    case LayerArg::Kind::Tuple: {
      std::vector<ValuePtr> items;
      for (const auto& x : a.items) items.push_back(to_value(x));
      return Value::tuple(std::move(items));
    }
  }
  return Value::none();
}

ValuePtr ordered_dict() { return Value::dict("collections.OrderedDict"); }

ValuePtr pair_value(int64_t a, int64_t b) { return Value::tuple({Value::integer(a), Value::integer(b)}); }

ValuePtr module_value(const Module& m, const std::string& path) {
  const std::string type = m.type_name();
  const std::string home = torch_module_of(type);
  if (home.empty())
    throw std::invalid_argument("cannot write " + (path.empty() ? std::string("the model") : "module '" + path + "'") +
                                " (" + type + ") as a whole-model file: only Sequential and torch's layers (" +
                                [] {
                                  std::string t;
                                  for (const auto& x : layer_types()) t += (t.empty() ? "" : ", ") + x;
                                  return t;
                                }() +
                                ") have a class Python can rebuild; save its state_dict instead");
  auto state = Value::dict();
  state->set("training", Value::boolean(m.is_training()));
  auto params = ordered_dict();
  for (const auto& [name, t] : m.named_parameters(false)) {
    ValuePtr v = Value::from_tensor(t);  // not detached: requires_grad travels with it
    v->cls = io::kParameterClass;
    params->set(name, v);
  }
  // torch keeps a None in _parameters for an absent bias, and for BatchNorm's without affine.
  if ((type == "Linear" || type == "Conv2d") && !params->get("bias")) params->set("bias", Value::none());
  if (type.rfind("BatchNorm", 0) == 0 && params->entries.empty())
    for (const char* p : {"weight", "bias"}) params->set(p, Value::none());
  state->set("_parameters", params);
  auto buffers = ordered_dict();
  for (const auto& [name, t] : m.named_buffers(false)) buffers->set(name, Value::from_tensor(t.detach()));
  if (type.rfind("BatchNorm", 0) == 0 && buffers->entries.empty())
    for (const char* b : {"running_mean", "running_var", "num_batches_tracked"}) buffers->set(b, Value::none());
  state->set("_buffers", buffers);
  auto np = Value::list();
  np->cls = "builtins.set";
  state->set("_non_persistent_buffers_set", np);
  state->set("_backward_hooks", ordered_dict());
  state->set("_is_full_backward_hook", Value::none());
  for (const char* hooks : {"_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks",
                            "_load_state_dict_post_hooks"})
    state->set(hooks, ordered_dict());
  auto modules = ordered_dict();
  for (const auto& [name, child] : m.named_children())
    modules->set(name, module_value(*child, path.empty() ? name : path + "." + name));
  state->set("_modules", modules);
  if (type != "Sequential") {
    for (const auto& [name, arg] : layer_arguments(m)) {
      if (name == "bias" && (type == "Linear" || type == "Conv2d")) continue;  // in _parameters
      if (type == "Conv2d" && name == "groups") {
        // torch's _ConvNd keeps these two before groups.
        state->set("transposed", Value::boolean(false));
        state->set("output_padding", pair_value(0, 0));
      }
      state->set(name, to_value(arg));
    }
    if (type == "Conv2d") {
      // Read only for padding modes other than 'zeros', but torch's forward expects it there.
      const ValuePtr pad = state->get("padding");
      int64_t ph = 0, pw = 0;
      if (pad && pad->kind == Value::Kind::Tuple) ph = pad->items[0]->i, pw = pad->items[1]->i;
      state->set("_reversed_padding_repeated_twice",
                 Value::tuple({Value::integer(pw), Value::integer(pw), Value::integer(ph), Value::integer(ph)}));
    }
  }
  ValuePtr obj = Value::object(Value::global(home, type), Value::tuple());
  obj->cls = "__newobj__";
  obj->state = state;
  return obj;
}

}  // namespace

io::ValuePtr module_to_value(const Module& model) { return module_value(model, ""); }

}  // namespace torchless::nn
