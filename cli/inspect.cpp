// torchless inspect: the checkpoint's tree, like ckpt.keys() but recursive.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "io/torch_rebuild.h"

namespace torchless::cli {

namespace {

using io::Value;
using io::ValuePtr;
using K = Value::Kind;

struct TensorSummary {
  std::string dtype, device, shape;
  std::vector<int64_t> sizes;
  int64_t numel = 0;
  bool has_stats = false;
  double min = 0, max = 0, mean = 0;
  int64_t nonfinite = 0;
  std::vector<double> first;
};

struct Inspector {
  std::map<const void*, std::string> storage_location;  // storage id -> location as saved
  std::string default_location = "cpu";
  std::set<const void*> seen_tensors, seen_storages, ordered;
  int64_t n_tensors = 0, n_elements = 0, n_bytes = 0;
  int max_depth = 64;
  std::string out;

  // Storages are recorded in order of first use while unpickling, which is
  // the pre-order of the tree: walk it the same way to pair them up.
  void collect_storages(const ValuePtr& v, std::vector<const void*>& order, std::set<const Value*>& active) {
    if (!v || active.count(v.get())) return;
    if (v->kind == K::Tensor && v->tensor.defined()) {
      const Tensor& t = v->tensor;
      if (seen_tensors.insert(t.impl_ptr().get()).second) {
        ++n_tensors;
        n_elements += t.numel();
        if (seen_storages.insert(t.storage().id()).second) n_bytes += static_cast<int64_t>(t.storage().nbytes());
      }
      const void* id = v->tensor.storage().id();
      if (ordered.insert(id).second) order.push_back(id);
      return;
    }
    if (v->kind == K::Storage) {
      const void* id = v->storage.id();
      if (seen_storages.insert(id).second) n_bytes += static_cast<int64_t>(v->storage.nbytes());
      if (ordered.insert(id).second) order.push_back(id);
      return;
    }
    active.insert(v.get());
    if (v->callable) collect_storages(v->callable, order, active);
    if (v->args) collect_storages(v->args, order, active);
    for (const auto& it : v->items) collect_storages(it, order, active);
    for (const auto& [k, x] : v->entries) {
      collect_storages(k, order, active);
      collect_storages(x, order, active);
    }
    if (v->state) collect_storages(v->state, order, active);
    active.erase(v.get());
  }

  void map_locations(const io::Checkpoint& ck) {
    std::set<std::string> locs;
    for (const auto& s : ck.storages) locs.insert(s.location);
    if (locs.size() == 1) default_location = *locs.begin();
    std::vector<const void*> order;
    std::set<const Value*> active;
    collect_storages(ck.root, order, active);  // also counts the totals
    if (ck.storages.empty()) return;
    if (order.size() == ck.storages.size())
      for (size_t i = 0; i < order.size(); ++i) storage_location[order[i]] = ck.storages[i].location;
    else if (locs.size() > 1)
      default_location = "?";
  }

  TensorSummary summarize(const Tensor& t) {
    TensorSummary s;
    s.dtype = std::string(dtype_name(t.dtype()));
    auto it = storage_location.find(t.storage().id());
    s.device = it != storage_location.end() ? it->second : default_location;
    s.sizes.assign(t.sizes().begin(), t.sizes().end());
    s.shape = "[";
    for (size_t i = 0; i < s.sizes.size(); ++i) s.shape += (i ? ", " : "") + std::to_string(s.sizes[i]);
    s.shape += "]";
    s.numel = t.numel();
    if (s.numel == 0) return s;
    Tensor c = t.device().is_cpu() ? t : t.to(Device::cpu());
    const std::vector<double> vals = c.to_vector();
    for (size_t i = 0; i < vals.size() && i < 4; ++i) s.first.push_back(vals[i]);
    if (is_floating(t.dtype())) {
      double mn = INFINITY, mx = -INFINITY, sum = 0;
      int64_t finite = 0;
      for (double x : vals) {
        if (!std::isfinite(x)) { ++s.nonfinite; continue; }
        mn = std::min(mn, x);
        mx = std::max(mx, x);
        sum += x;
        ++finite;
      }
      if (finite) {
        s.has_stats = true;
        s.min = mn;
        s.max = mx;
        s.mean = sum / static_cast<double>(finite);
      }
    }
    return s;
  }

  static std::string num(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", x);
    return b;
  }

  static std::string class_of(const ValuePtr& v) {
    if (v->kind == K::Object) {
      if (v->callable && v->callable->kind == K::Global) return v->callable->s + "." + v->callable->name;
      return "object";
    }
    return v->cls;
  }

  static std::string container_label(const ValuePtr& v) {
    switch (v->kind) {
      case K::Dict: {
        std::string c = v->cls.empty() ? "dict" : v->cls;
        return c + " (" + std::to_string(v->entries.size()) + (v->entries.size() == 1 ? " key)" : " keys)");
      }
      case K::List: return v->kind_name() + " (" + std::to_string(v->items.size()) + " items)";
      case K::Tuple: return "tuple (" + std::to_string(v->items.size()) + " items)";
      default: return v->kind_name();
    }
  }

  // ---- text ----
  void text(const ValuePtr& v, const std::string& indent, int depth) {
    if (!v) { out += "<null>\n"; return; }
    if (v->kind == K::Tensor) {
      if (!v->tensor.defined()) { out += "tensor <undefined>\n"; return; }
      TensorSummary s = summarize(v->tensor);
      std::string kind = v->cls == io::kParameterClass ? "Parameter" : v->cls == io::kNdarrayClass ? "ndarray" : "tensor";
      out += kind + " " + s.dtype + " " + s.shape + " " + s.device;
      if (s.has_stats) out += "  min " + num(s.min) + " max " + num(s.max) + " mean " + num(s.mean);
      if (s.nonfinite) out += "  (" + std::to_string(s.nonfinite) + " non-finite)";
      if (!s.first.empty()) {
        out += "  [";
        for (size_t i = 0; i < s.first.size(); ++i) out += (i ? ", " : "") + num(s.first[i]);
        out += s.numel > static_cast<int64_t>(s.first.size()) ? ", ...]" : "]";
      }
      out += "\n";
      return;
    }
    if (v->kind == K::Dict || v->kind == K::List || v->kind == K::Tuple) {
      out += container_label(v);
      const size_t n = v->kind == K::Dict ? v->entries.size() : v->items.size();
      if (n == 0) { out += "\n"; return; }
      if (depth >= max_depth) { out += " ...\n"; return; }
      out += "\n";
      for (size_t i = 0; i < n; ++i) {
        out += indent + "  ";
        if (v->kind == K::Dict) {
          out += io::repr(v->entries[i].first, 2) + ": ";
          text(v->entries[i].second, indent + "  ", depth + 1);
        } else {
          out += "[" + std::to_string(i) + "]: ";
          text(v->items[i], indent + "  ", depth + 1);
        }
      }
      return;
    }
    if (v->kind == K::Object) {
      std::string r = io::repr(v, 3);
      if (r.size() > 200) r = r.substr(0, 197) + "...";
      out += "object " + class_of(v) + ": " + r + "\n";
      return;
    }
    if (v->kind == K::Storage) {
      out += "storage " + std::string(dtype_name(v->storage_dtype)) + " " + std::to_string(v->storage.nbytes()) +
             " bytes\n";
      return;
    }
    std::string r = io::repr(v, 2);
    if (r.size() > 200) r = r.substr(0, 197) + "...";
    out += r + "\n";
  }

  // ---- json ----
  void json(const ValuePtr& v, int depth) {
    if (!v) { out += "null"; return; }
    switch (v->kind) {
      case K::Tensor: {
        if (!v->tensor.defined()) { out += "{\"type\":\"tensor\",\"defined\":false}"; return; }
        TensorSummary s = summarize(v->tensor);
        out += "{\"type\":\"tensor\",\"class\":" +
               json_str(v->cls == io::kParameterClass ? "Parameter" : v->cls == io::kNdarrayClass ? "ndarray" : "Tensor") +
               ",\"dtype\":" + json_str(s.dtype) + ",\"shape\":[";
        for (size_t i = 0; i < s.sizes.size(); ++i) out += (i ? "," : "") + std::to_string(s.sizes[i]);
        out += "],\"device\":" + json_str(s.device) + ",\"numel\":" + std::to_string(s.numel);
        if (s.has_stats)
          out += ",\"min\":" + json_num(s.min) + ",\"max\":" + json_num(s.max) + ",\"mean\":" + json_num(s.mean);
        if (s.nonfinite) out += ",\"nonfinite\":" + std::to_string(s.nonfinite);
        out += ",\"first\":[";
        for (size_t i = 0; i < s.first.size(); ++i) out += (i ? "," : "") + json_num(s.first[i]);
        out += "]}";
        return;
      }
      case K::Dict: {
        out += "{\"type\":\"dict\"";
        if (!v->cls.empty()) out += ",\"class\":" + json_str(v->cls);
        out += ",\"length\":" + std::to_string(v->entries.size());
        if (depth >= max_depth) { out += ",\"truncated\":true}"; return; }
        out += ",\"entries\":[";
        for (size_t i = 0; i < v->entries.size(); ++i) {
          const auto& [k, x] = v->entries[i];
          out += i ? "," : "";
          out += "{\"key\":" + json_str(k && k->kind == K::Str ? k->s : io::repr(k, 2)) + ",\"value\":";
          json(x, depth + 1);
          out += "}";
        }
        out += "]}";
        return;
      }
      case K::List:
      case K::Tuple: {
        out += "{\"type\":" + json_str(v->kind_name()) + ",\"length\":" + std::to_string(v->items.size());
        if (depth >= max_depth) { out += ",\"truncated\":true}"; return; }
        out += ",\"items\":[";
        for (size_t i = 0; i < v->items.size(); ++i) {
          out += i ? "," : "";
          json(v->items[i], depth + 1);
        }
        out += "]}";
        return;
      }
      case K::Object:
        out += "{\"type\":\"object\",\"class\":" + json_str(class_of(v)) + ",\"repr\":" + json_str(io::repr(v, 3)) + "}";
        return;
      case K::None: out += "{\"type\":\"None\",\"value\":null}"; return;
      case K::Bool: out += std::string("{\"type\":\"bool\",\"value\":") + (v->b ? "true" : "false") + "}"; return;
      case K::Int: out += "{\"type\":\"int\",\"value\":" + std::to_string(v->i) + "}"; return;
      case K::Float:
        out += "{\"type\":\"float\",\"value\":" + json_num(v->f) + ",\"repr\":" + json_str(io::repr(v)) + "}";
        return;
      case K::Str: out += "{\"type\":\"str\",\"value\":" + json_str(v->s) + "}"; return;
      default:
        out += "{\"type\":" + json_str(v->kind_name()) + ",\"repr\":" + json_str(io::repr(v, 2)) + "}";
        return;
    }
  }
};

int run_inspect(const std::vector<std::string>& argv) {
  Args args(argv, {"--depth"}, {"--json", "--safe"});
  if (args.positional().size() != 1)
    throw UsageError(args.positional().empty() ? "missing FILE" : "unexpected argument '" + args.positional()[1] + "'");
  const std::string path = args.positional()[0];
  io::LoadOptions opt;
  opt.safe = args.has("--safe");
  opt.map_location = io::MapLocation::parse("cpu");  // CUDA files open on CPU builds; devices shown as saved
  opt.mmap = true;
  const io::Checkpoint ck = load_any(path, opt);
  std::vector<std::pair<std::string, std::string>> metadata;
  if (ck.format == "safetensors") metadata = io::load_safetensors(path, true).metadata;

  Inspector in;
  in.max_depth = static_cast<int>(args.integer("--depth", 64, 0, 100000));
  in.map_locations(ck);
  if (args.has("--json")) {
    in.out = "{\"file\":" + json_str(path) + ",\"format\":" + json_str(ck.format) + ",\"safe\":" +
             (opt.safe ? "true" : "false") + ",\"storages\":" + std::to_string(ck.storages.size());
    if (!metadata.empty()) {
      in.out += ",\"metadata\":{";
      for (size_t i = 0; i < metadata.size(); ++i)
        in.out += (i ? "," : "") + json_str(metadata[i].first) + ":" + json_str(metadata[i].second);
      in.out += "}";
    }
    in.out += ",\"root\":";
    in.json(ck.root, 0);
    in.out += ",\"totals\":{\"tensors\":" + std::to_string(in.n_tensors) + ",\"parameters\":" +
              std::to_string(in.n_elements) + ",\"bytes\":" + std::to_string(in.n_bytes) + "}}\n";
  } else {
    in.out = path + " (" + ck.format + (ck.format == "safetensors" ? "" : ", " + std::to_string(ck.storages.size()) + " storages") + ")\n";
    for (const auto& [k, v] : metadata) in.out += "metadata " + k + " = " + v + "\n";
    in.text(ck.root, "", 0);
    in.out += "total: " + std::to_string(in.n_tensors) + " tensors, " + std::to_string(in.n_elements) +
              " parameters, " + std::to_string(in.n_bytes) + " bytes\n";
  }
  std::fputs(in.out.c_str(), stdout);
  return 0;
}

}  // namespace

extern const Command kInspectCommand = {
    "inspect", "show a checkpoint's tree: keys, values, tensors (dtype, shape, device)",
    "usage: torchless inspect FILE [--json] [--safe] [--depth N]\n"
    "  Shows a torch.save checkpoint (zip or legacy) or a .safetensors file as a tree:\n"
    "  keys, Python values, and for each tensor its dtype, shape, the device it was\n"
    "  saved on, min/max/mean (floating types) and its first values; then totals\n"
    "  (tensors, parameters, storage bytes). Nothing in the file is executed; CUDA\n"
    "  tensors are read onto the CPU.\n"
    "  --json     print the same as one JSON document\n"
    "  --safe     refuse globals outside torch's weights_only allowlist\n"
    "  --depth N  expand containers N levels deep (default 64)\n",
    run_inspect};

}  // namespace torchless::cli
