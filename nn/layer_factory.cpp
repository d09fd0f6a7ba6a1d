#include "nn/layer_factory.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/shape_layers.h"

namespace torchless::nn {

LayerArg LayerArg::boolean(bool v) {
  LayerArg a;
  a.kind = Kind::Bool, a.b = v;
  return a;
}
LayerArg LayerArg::integer(int64_t v) {
  LayerArg a;
  a.kind = Kind::Int, a.i = v;
  return a;
}
LayerArg LayerArg::real(double v) {
  LayerArg a;
  a.kind = Kind::Float, a.f = v;
  return a;
}
LayerArg LayerArg::str(std::string v) {
  LayerArg a;
  a.kind = Kind::Str, a.s = std::move(v);
  return a;
}
LayerArg LayerArg::tuple(std::vector<LayerArg> v) {
  LayerArg a;
  a.kind = Kind::Tuple, a.items = std::move(v);
  return a;
}

std::string LayerArg::repr() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return b ? "True" : "False";
    case Kind::Int: return std::to_string(i);
    case Kind::Float: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", f);
      // The shortest text that reads back as the same double.
      for (int digits = 1; digits <= 17; ++digits) {
        char shorter[64];
        std::snprintf(shorter, sizeof shorter, "%.*g", digits, f);
        if (std::strtod(shorter, nullptr) == f) {
          std::snprintf(buf, sizeof buf, "%s", shorter);
          break;
        }
      }
      std::string out = buf;
      if (std::isfinite(f) && out.find_first_of(".eE") == std::string::npos) out += ".0";
      return out;
    }
    case Kind::Str: return "'" + s + "'";
    case Kind::Tuple: {
      std::string out = "(";
      for (size_t k = 0; k < items.size(); ++k) out += (k ? ", " : "") + items[k].repr();
      return out + (items.size() == 1 ? ",)" : ")");
    }
  }
  return "?";
}

namespace {

using Kind = LayerArg::Kind;
using Named = std::vector<std::pair<std::string, LayerArg>>;

// An argument of the signature: its name and default (unset: required).
struct Param {
  std::string name;
  std::optional<LayerArg> def;
};

// The arguments bound to a signature, with typed reads that name the layer
// and the argument when the value has the wrong kind.
class Bound {
 public:
  Bound(std::string layer, Named values) : layer_(std::move(layer)), values_(std::move(values)) {}

  const LayerArg& get(const std::string& name) const {
    for (const auto& [n, v] : values_)
      if (n == name) return v;
    throw std::logic_error(layer_ + ": no argument '" + name + "'");
  }
  [[noreturn]] void wrong(const std::string& name, const std::string& want) const {
    throw std::invalid_argument(layer_ + ": '" + name + "' must be " + want + ", got " + get(name).repr());
  }
  bool is_none(const std::string& name) const { return get(name).kind == Kind::None; }
  int64_t integer(const std::string& name) const {
    const LayerArg& a = get(name);
    if (a.kind != Kind::Int) wrong(name, "an int");
    return a.i;
  }
  std::optional<int64_t> opt_integer(const std::string& name) const {
    if (is_none(name)) return std::nullopt;
    return integer(name);
  }
  double real(const std::string& name) const {
    const LayerArg& a = get(name);
    if (a.kind == Kind::Int) return static_cast<double>(a.i);
    if (a.kind != Kind::Float) wrong(name, "a number");
    return a.f;
  }
  std::optional<double> opt_real(const std::string& name) const {
    if (is_none(name)) return std::nullopt;
    return real(name);
  }
  bool boolean(const std::string& name) const {
    const LayerArg& a = get(name);
    if (a.kind != Kind::Bool) wrong(name, "True or False");
    return a.b;
  }
  std::string str(const std::string& name) const {
    const LayerArg& a = get(name);
    if (a.kind != Kind::Str) wrong(name, "a string");
    return a.s;
  }
  // An int n (meaning (n, n)) or a pair of ints, as torch's _pair takes.
  Pair pair(const std::string& name) const {
    const LayerArg& a = get(name);
    if (a.kind == Kind::Int) return {a.i, a.i};
    if (a.kind == Kind::Tuple && a.items.size() == 2 && a.items[0].kind == Kind::Int && a.items[1].kind == Kind::Int)
      return {a.items[0].i, a.items[1].i};
    wrong(name, "an int or a pair of ints");
  }
  std::optional<Pair> opt_pair(const std::string& name) const {
    if (is_none(name)) return std::nullopt;
    return pair(name);
  }
  const std::string& layer() const { return layer_; }

 private:
  std::string layer_;
  Named values_;
};

LayerArg pair_arg(Pair p) { return LayerArg::tuple({LayerArg::integer(p[0]), LayerArg::integer(p[1])}); }
LayerArg opt_real_arg(std::optional<double> v) { return v ? LayerArg::real(*v) : LayerArg::none(); }
LayerArg opt_int_arg(std::optional<int64_t> v) { return v ? LayerArg::integer(*v) : LayerArg::none(); }

struct Entry {
  std::string type;
  std::vector<Param> signature;
  std::function<std::shared_ptr<Module>(const Bound&, Generator*)> build;
  std::function<Named(const Module&)> arguments;  // values in signature order
};

template <class M> const M& as(const Module& m) { return dynamic_cast<const M&>(m); }

LayerArg none() { return LayerArg::none(); }
LayerArg i(int64_t v) { return LayerArg::integer(v); }
LayerArg f(double v) { return LayerArg::real(v); }
LayerArg b(bool v) { return LayerArg::boolean(v); }
LayerArg s(const std::string& v) { return LayerArg::str(v); }

std::shared_ptr<Module> batch_norm(int dims, const Bound& a) {
  const int64_t n = a.integer("num_features");
  const double eps = a.real("eps");
  const auto momentum = a.opt_real("momentum");
  const bool affine = a.boolean("affine"), track = a.boolean("track_running_stats");
  if (dims == 1) return std::make_shared<BatchNorm1d>(n, eps, momentum, affine, track);
  return std::make_shared<BatchNorm2d>(n, eps, momentum, affine, track);
}

Named batch_norm_args(const Module& m) {
  const auto& bn = as<BatchNorm>(m);
  return {{"num_features", i(bn.num_features)}, {"eps", f(bn.eps)}, {"momentum", opt_real_arg(bn.momentum)},
          {"affine", b(bn.affine)}, {"track_running_stats", b(bn.track_running_stats)}};
}

void accept_inplace(const Bound& a) {
  // Accepted for compatibility: torchless never writes into its input, which
  // gives the same values.
  (void)a.boolean("inplace");
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"Linear", {{"in_features", {}}, {"out_features", {}}, {"bias", b(true)}},
       [](const Bound& a, Generator* g) {
         return std::make_shared<Linear>(a.integer("in_features"), a.integer("out_features"), a.boolean("bias"), g);
       },
       [](const Module& m) {
         const auto& l = as<Linear>(m);
         return Named{{"in_features", i(l.in_features)}, {"out_features", i(l.out_features)}, {"bias", b(l.bias.defined())}};
       }},
      {"Conv2d",
       {{"in_channels", {}}, {"out_channels", {}}, {"kernel_size", {}}, {"stride", i(1)}, {"padding", i(0)},
        {"dilation", i(1)}, {"groups", i(1)}, {"bias", b(true)}, {"padding_mode", s("zeros")}},
       [](const Bound& a, Generator* g) -> std::shared_ptr<Module> {
         const int64_t in = a.integer("in_channels"), out = a.integer("out_channels"), groups = a.integer("groups");
         const Pair k = a.pair("kernel_size"), st = a.pair("stride"), d = a.pair("dilation");
         const bool bias = a.boolean("bias");
         const std::string mode = a.str("padding_mode");
         if (a.get("padding").kind == Kind::Str)
           return Conv2d::with_padding(in, out, k, st, a.str("padding"), d, groups, bias, mode, g);
         return std::make_shared<Conv2d>(in, out, k, st, a.pair("padding"), d, groups, bias, mode, g);
       },
       [](const Module& m) {
         const auto& c = as<Conv2d>(m);
         return Named{{"in_channels", i(c.in_channels)},
                      {"out_channels", i(c.out_channels)},
                      {"kernel_size", pair_arg(c.kernel_size)},
                      {"stride", pair_arg(c.stride)},
                      {"padding", c.padding_string.empty() ? pair_arg(c.padding) : s(c.padding_string)},
                      {"dilation", pair_arg(c.dilation)},
                      {"groups", i(c.groups)},
                      {"bias", b(c.bias.defined())},
                      {"padding_mode", s(c.padding_mode)}};
       }},
      {"MaxPool2d",
       {{"kernel_size", {}}, {"stride", none()}, {"padding", i(0)}, {"dilation", i(1)}, {"return_indices", b(false)},
        {"ceil_mode", b(false)}},
       [](const Bound& a, Generator*) {
         if (a.boolean("return_indices"))
           throw std::invalid_argument("MaxPool2d: return_indices=True is not supported (a layer returns one tensor)");
         return std::make_shared<MaxPool2d>(a.pair("kernel_size"), a.opt_pair("stride"), a.pair("padding"),
                                            a.pair("dilation"), a.boolean("ceil_mode"));
       },
       [](const Module& m) {
         const auto& p = as<MaxPool2d>(m);
         return Named{{"kernel_size", pair_arg(p.kernel_size)}, {"stride", pair_arg(p.stride)},
                      {"padding", pair_arg(p.padding)},         {"dilation", pair_arg(p.dilation)},
                      {"return_indices", b(false)},             {"ceil_mode", b(p.ceil_mode)}};
       }},
      {"AvgPool2d",
       {{"kernel_size", {}}, {"stride", none()}, {"padding", i(0)}, {"ceil_mode", b(false)},
        {"count_include_pad", b(true)}, {"divisor_override", none()}},
       [](const Bound& a, Generator*) {
         const auto divisor = a.opt_integer("divisor_override");
         if (divisor && *divisor < 1)
           throw std::invalid_argument("AvgPool2d: divisor_override must be positive, got " + std::to_string(*divisor));
         return std::make_shared<AvgPool2d>(a.pair("kernel_size"), a.opt_pair("stride"), a.pair("padding"),
                                            a.boolean("ceil_mode"), a.boolean("count_include_pad"), divisor.value_or(0));
       },
       [](const Module& m) {
         const auto& p = as<AvgPool2d>(m);
         return Named{{"kernel_size", pair_arg(p.kernel_size)},
                      {"stride", pair_arg(p.stride)},
                      {"padding", pair_arg(p.padding)},
                      {"ceil_mode", b(p.ceil_mode)},
                      {"count_include_pad", b(p.count_include_pad)},
                      {"divisor_override", p.divisor_override ? i(p.divisor_override) : none()}};
       }},
      {"AdaptiveAvgPool2d", {{"output_size", {}}},
       [](const Bound& a, Generator*) {
         const LayerArg& v = a.get("output_size");
         std::array<std::optional<int64_t>, 2> size;
         if (v.kind == Kind::Int) {
           size = {v.i, v.i};
         } else if (v.kind == Kind::Tuple && v.items.size() == 2) {
           for (int k = 0; k < 2; ++k) {
             if (v.items[k].kind == Kind::Int) size[k] = v.items[k].i;
             else if (v.items[k].kind != Kind::None) a.wrong("output_size", "an int or a pair of ints or None");
           }
         } else {
           a.wrong("output_size", "an int or a pair of ints or None");
         }
         return std::make_shared<AdaptiveAvgPool2d>(size);
       },
       [](const Module& m) {
         const auto& p = as<AdaptiveAvgPool2d>(m);
         return Named{{"output_size", LayerArg::tuple({opt_int_arg(p.output_size[0]), opt_int_arg(p.output_size[1])})}};
       }},
      {"BatchNorm1d",
       {{"num_features", {}}, {"eps", f(1e-5)}, {"momentum", f(0.1)}, {"affine", b(true)},
        {"track_running_stats", b(true)}},
       [](const Bound& a, Generator*) { return batch_norm(1, a); }, batch_norm_args},
      {"BatchNorm2d",
       {{"num_features", {}}, {"eps", f(1e-5)}, {"momentum", f(0.1)}, {"affine", b(true)},
        {"track_running_stats", b(true)}},
       [](const Bound& a, Generator*) { return batch_norm(2, a); }, batch_norm_args},
      {"ReLU", {{"inplace", b(false)}},
       [](const Bound& a, Generator*) {
         accept_inplace(a);
         return std::make_shared<ReLU>();
       },
       [](const Module&) { return Named{{"inplace", b(false)}}; }},
      {"Sigmoid", {}, [](const Bound&, Generator*) { return std::make_shared<Sigmoid>(); },
       [](const Module&) { return Named{}; }},
      {"Tanh", {}, [](const Bound&, Generator*) { return std::make_shared<Tanh>(); }, [](const Module&) { return Named{}; }},
      {"GELU", {{"approximate", s("none")}},
       [](const Bound& a, Generator*) { return std::make_shared<GELU>(a.str("approximate")); },
       [](const Module& m) { return Named{{"approximate", s(as<GELU>(m).approximate)}}; }},
      {"Softmax", {{"dim", none()}},
       [](const Bound& a, Generator*) { return std::make_shared<Softmax>(a.opt_integer("dim")); },
       [](const Module& m) { return Named{{"dim", opt_int_arg(as<Softmax>(m).dim)}}; }},
      {"LogSoftmax", {{"dim", none()}},
       [](const Bound& a, Generator*) { return std::make_shared<LogSoftmax>(a.opt_integer("dim")); },
       [](const Module& m) { return Named{{"dim", opt_int_arg(as<LogSoftmax>(m).dim)}}; }},
      {"Dropout", {{"p", f(0.5)}, {"inplace", b(false)}},
       [](const Bound& a, Generator* g) {
         accept_inplace(a);
         return std::make_shared<Dropout>(a.real("p"), g);
       },
       [](const Module& m) { return Named{{"p", f(as<Dropout>(m).p)}, {"inplace", b(false)}}; }},
      {"Flatten", {{"start_dim", i(1)}, {"end_dim", i(-1)}},
       [](const Bound& a, Generator*) { return std::make_shared<Flatten>(a.integer("start_dim"), a.integer("end_dim")); },
       [](const Module& m) {
         const auto& fl = as<Flatten>(m);
         return Named{{"start_dim", i(fl.start_dim)}, {"end_dim", i(fl.end_dim)}};
       }},
      {"Identity", {}, [](const Bound&, Generator*) { return std::make_shared<Identity>(); },
       [](const Module&) { return Named{}; }},
  };
  return kEntries;
}

const Entry* find_entry(const std::string& type) {
  for (const auto& e : entries())
    if (e.type == type) return &e;
  return nullptr;
}

std::string signature_text(const Entry& e) {
  std::string out = e.type + "(";
  for (size_t k = 0; k < e.signature.size(); ++k) {
    out += (k ? ", " : "") + e.signature[k].name;
    if (e.signature[k].def) out += "=" + e.signature[k].def->repr();
  }
  return out + ")";
}

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> kTypes = [] {
    std::vector<std::string> t;
    for (const auto& e : entries()) t.push_back(e.type);
    return t;
  }();
  return kTypes;
}

std::vector<std::string> layer_signature(const std::string& type) {
  std::vector<std::string> out;
  if (const Entry* e = find_entry(type))
    for (const auto& p : e->signature) out.push_back(p.name);
  return out;
}

std::shared_ptr<Module> make_layer(const std::string& type, const LayerArgs& args, Generator* gen) {
  const Entry* e = find_entry(type);
  if (!e) {
    std::string known;
    for (const auto& t : layer_types()) known += (known.empty() ? "" : ", ") + t;
    throw std::invalid_argument("unknown layer '" + type + "' (layers: Sequential, " + known + ")");
  }
  const std::string sig = signature_text(*e);
  // torch's Identity takes and ignores any arguments.
  if (type == "Identity") return e->build(Bound(type, {}), gen);
  if (args.positional.size() > e->signature.size())
    throw std::invalid_argument(type + ": takes at most " + std::to_string(e->signature.size()) +
                                " positional argument(s), got " + std::to_string(args.positional.size()) + " (" + sig + ")");
  std::vector<std::optional<LayerArg>> slots(e->signature.size());
  for (size_t k = 0; k < args.positional.size(); ++k) slots[k] = args.positional[k];
  for (const auto& [name, value] : args.keyword) {
    size_t k = 0;
    while (k < e->signature.size() && e->signature[k].name != name) ++k;
    if (k == e->signature.size())
      throw std::invalid_argument(type + ": unknown argument '" + name + "' (" + sig + ")");
    if (slots[k]) throw std::invalid_argument(type + ": argument '" + name + "' given twice (" + sig + ")");
    slots[k] = value;
  }
  Named bound;
  for (size_t k = 0; k < slots.size(); ++k) {
    const Param& p = e->signature[k];
    if (!slots[k] && !p.def) throw std::invalid_argument(type + ": missing argument '" + p.name + "' (" + sig + ")");
    bound.emplace_back(p.name, slots[k] ? *slots[k] : *p.def);
  }
  return e->build(Bound(type, std::move(bound)), gen);
}

std::vector<std::pair<std::string, LayerArg>> layer_arguments(const Module& m) {
  const Entry* e = find_entry(m.type_name());
  if (!e)
    throw std::invalid_argument("layer_arguments: " + m.type_name() + " is not a layer torchless can rebuild by name");
  return e->arguments(m);
}

std::string layer_spec(const Module& m) {
  const Entry* e = find_entry(m.type_name());
  const Named args = layer_arguments(m);
  std::string out;
  for (size_t k = 0; k < args.size(); ++k) {
    const Param& p = e->signature[k];
    const LayerArg& v = args[k].second;
    if (p.def) {
      const std::string d = p.def->repr();
      // Pooling's stride=None means the kernel size.
      if (p.name == "stride" && p.def->kind == Kind::None && v.repr() == args[0].second.repr()) continue;
      // An int default n is the pair (n, n) torch stores.
      if (v.repr() == d || (p.def->kind == Kind::Int && v.repr() == "(" + d + ", " + d + ")")) continue;
      out += (out.empty() ? "" : ", ") + p.name + "=" + v.repr();
    } else {
      out += (out.empty() ? "" : ", ") + v.repr();
    }
  }
  return out.empty() ? m.type_name() : m.type_name() + "(" + out + ")";
}

}  // namespace torchless::nn
