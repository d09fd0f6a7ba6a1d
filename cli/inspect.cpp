// torchless inspect: the checkpoint's tree, like ckpt.keys() but recursive.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/ckpt_util.h"
#include "io/utf8.h"
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
  bool has_stats = false, stats_skipped = false;
  double min = 0, max = 0, mean = 0;
  int64_t nonfinite = 0;
  std::vector<double> first;
};

// Calls f with the values of `v` in row-major order, at most kChunk at a
// time, so a large tensor never becomes one vector of doubles.
constexpr int64_t kChunk = int64_t{1} << 20;
void for_each_chunk(const Tensor& v, const std::function<void(const std::vector<double>&)>& f) {
  if (v.numel() <= kChunk) {
    f(v.to_vector());
    return;
  }
  int64_t d = 0;
  while (v.size(d) == 1) ++d;  // some dim is > 1, as numel > kChunk
  const int64_t inner = v.numel() / v.size(d);
  const int64_t step = std::max<int64_t>(1, kChunk / inner);
  for (int64_t i = 0; i < v.size(d); i += step) for_each_chunk(v.narrow(d, i, std::min(step, v.size(d) - i)), f);
}

constexpr size_t kTextLimit = 200;     // a value's repr on one text line
constexpr size_t kJsonLimit = 65536;   // an object's "repr" in JSON
constexpr size_t kJsonKeyLimit = 4096; // a dict key in JSON (real keys are names)

struct Inspector {
  std::map<const void*, std::string> storage_location;  // storage id -> location as saved
  std::string default_location = "cpu";
  std::set<const void*> seen_tensors, seen_storages, ordered;
  std::unordered_set<const Value*> collected;
  int64_t n_tensors = 0, n_elements = 0, n_bytes = 0;
  int max_depth = 64;
  std::string out;

  // Pickle's memo lets one node appear in many places (a 1 KB file can hold
  // a list of itself 40 levels deep: 2^40 paths). Every walk visits a node
  // once: a node printed in full is recorded here, with where it was printed,
  // and later occurrences print a reference to that place instead.
  struct Place {
    int parent;        // index in places, -1 for the root
    bool in_dict;      // reached as a dict value (else a list/tuple item)
    int64_t index;     // entry or item index
    std::string key;   // the dict key as printed
    std::string path, pointer;  // built on first use
  };
  std::vector<Place> places;
  std::unordered_map<const Value*, int> printed;  // node -> its index in places

  // Storages are recorded in order of first use while unpickling, which is
  // the pre-order of the tree: walk it the same way to pair them up (visiting
  // each shared node once changes no first use).
  void collect_storages(const ValuePtr& v, std::vector<const void*>& order) {
    if (!v || !collected.insert(v.get()).second) return;
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
    if (v->callable) collect_storages(v->callable, order);
    if (v->args) collect_storages(v->args, order);
    for (const auto& it : v->items) collect_storages(it, order);
    for (const auto& [k, x] : v->entries) {
      collect_storages(k, order);
      collect_storages(x, order);
    }
    if (v->state) collect_storages(v->state, order);
  }

  void map_locations(const io::Checkpoint& ck) {
    std::set<std::string> locs;
    for (const auto& s : ck.storages) locs.insert(s.location);
    if (locs.size() == 1) default_location = *locs.begin();
    std::vector<const void*> order;
    collect_storages(ck.root, order);  // also counts the totals
    if (ck.storages.empty()) return;
    if (order.size() == ck.storages.size())
      for (size_t i = 0; i < order.size(); ++i) storage_location[order[i]] = ck.storages[i].location;
    else if (locs.size() > 1)
      default_location = "?";
  }

  // ---- shared nodes ----
  // Worth a reference when met again: containers printed in full, tensors,
  // objects, and long strings; small values simply print again.
  static bool refers_back(const ValuePtr& v) {
    switch (v->kind) {
      case K::Tensor:
      case K::Object:
      case K::Dict:
      case K::List:
      case K::Tuple: return true;
      case K::Str:
      case K::Bytes:
      case K::BigInt: return v->s.size() > 64;
      default: return false;
    }
  }
  int record(const ValuePtr& v, int parent, bool in_dict, int64_t index, const std::string& key) {
    places.push_back({parent, in_dict, index, key, "", ""});
    const int id = static_cast<int>(places.size()) - 1;
    printed.emplace(v.get(), id);
    return id;
  }
  // "root['state_dict'][0]": the Python expression that reaches the place.
  const std::string& path_of(int id) {
    Place& p = places[static_cast<size_t>(id)];
    if (p.path.empty())
      p.path = p.parent < 0 ? std::string("root")
                            : path_of(p.parent) + "[" + (p.in_dict ? p.key : std::to_string(p.index)) + "]";
    return p.path;
  }
  // "#/root/entries/3/value/items/0": a JSON Pointer into this document.
  const std::string& pointer_of(int id) {
    Place& p = places[static_cast<size_t>(id)];
    if (p.pointer.empty())
      p.pointer = p.parent < 0 ? std::string("#/root")
                               : pointer_of(p.parent) + (p.in_dict ? "/entries/" + std::to_string(p.index) + "/value"
                                                                   : "/items/" + std::to_string(p.index));
    return p.pointer;
  }
  int printed_at(const ValuePtr& v) const {
    auto it = printed.find(v.get());
    return it == printed.end() ? -1 : it->second;
  }

  TensorSummary summarize(const Tensor& t) {
    TensorSummary s;
    s.dtype = std::string(dtype_name(t.dtype()));
    auto it = storage_location.find(t.storage().id());
    s.device = printable(it != storage_location.end() ? it->second : default_location);
    s.sizes.assign(t.sizes().begin(), t.sizes().end());
    s.shape = shape_str(t.sizes());
    s.numel = t.numel();
    if (s.numel == 0) return s;
    // An expanded tensor (stride 0) repeats its values: summarise the compact
    // view, index 0 of every stride-0 dim: the same values, min, max and mean,
    // without materialising torch.zeros(1).expand(100000, 100000).
    Shape sizes = t.sizes();
    int64_t repeat = 1;
    for (size_t d = 0; d < sizes.size(); ++d)
      if (t.strides()[d] == 0 && sizes[d] > 1) repeat *= sizes[d], sizes[d] = 1;
    const Tensor c = t.as_strided(sizes, t.strides(), t.storage_offset());
    // Strides can also overlap without being 0 (as_strided): such a view
    // reads a small storage many times. Summarise it only while it is small.
    const auto storage_elems = static_cast<int64_t>(t.storage().nbytes() / element_size(t.dtype()));
    if (c.numel() > storage_elems && c.numel() > 16 * kChunk) {
      s.stats_skipped = true;
      return s;
    }
    // The first values in row-major order of the full tensor, read one by one.
    for (int64_t k = 0; k < s.numel && k < 4; ++k) {
      int64_t rest = k, off = t.storage_offset();
      for (int64_t d = t.dim() - 1; d >= 0; --d) {
        off += rest % t.size(d) * t.stride(d);
        rest /= t.size(d);
      }
      s.first.push_back(t.as_strided({}, {}, off).to_vector().at(0));
    }
    if (!is_floating(t.dtype())) return s;
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t finite = 0;
    for_each_chunk(c, [&](const std::vector<double>& vals) {
      for (double x : vals) {
        if (!std::isfinite(x)) { ++s.nonfinite; continue; }
        mn = std::min(mn, x);
        mx = std::max(mx, x);
        sum += x;
        ++finite;
      }
    });
    s.nonfinite *= repeat;
    if (finite) {
      s.has_stats = true;
      s.min = mn;
      s.max = mx;
      s.mean = sum / static_cast<double>(finite);
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
      if (v->callable && v->callable->kind == K::Global)  // names from the file: never copy all of a huge one
        return io::utf8_cut(v->callable->s.substr(0, kTextLimit) + "." + v->callable->name.substr(0, kTextLimit),
                        kTextLimit);
      return "object";
    }
    return io::utf8_cut(v->cls, kTextLimit);
  }

  static std::string container_label(const ValuePtr& v) {
    switch (v->kind) {
      case K::Dict: {
        std::string c = v->cls.empty() ? "dict" : printable(io::utf8_cut(v->cls, kTextLimit));
        return c + " (" + std::to_string(v->entries.size()) + (v->entries.size() == 1 ? " key)" : " keys)");
      }
      case K::List: return v->kind_name() + " (" + std::to_string(v->items.size()) + " items)";
      case K::Tuple: return "tuple (" + std::to_string(v->items.size()) + " items)";
      default: return printable(io::utf8_cut(v->kind_name(), kTextLimit));
    }
  }

  // ---- text ----
  void text(const ValuePtr& v, const std::string& indent, int depth, int parent, bool in_dict, int64_t index,
            const std::string& key) {
    if (!v) { out += "<null>\n"; return; }
    if (const int at = printed_at(v); at >= 0) {
      out += "<same as " + path_of(at) + ">\n";
      return;
    }
    if (v->kind == K::Tensor) {
      if (!v->tensor.defined()) { out += "tensor <undefined>\n"; return; }
      record(v, parent, in_dict, index, key);
      TensorSummary s = summarize(v->tensor);
      std::string kind = v->cls == io::kParameterClass ? "Parameter" : v->cls == io::kNdarrayClass ? "ndarray" : "tensor";
      out += kind + " " + s.dtype + " " + s.shape + " " + s.device;
      if (s.has_stats) out += "  min " + num(s.min) + " max " + num(s.max) + " mean " + num(s.mean);
      if (s.nonfinite) out += "  (" + std::to_string(s.nonfinite) + " non-finite)";
      if (s.stats_skipped) out += "  (a self-overlapping view: values not summarised)";
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
      if (depth >= max_depth) { out += " ...\n"; return; }  // not recorded: a shallower place may expand it
      out += "\n";
      const int id = record(v, parent, in_dict, index, key);
      for (size_t i = 0; i < n; ++i) {
        out += indent + "  ";
        if (v->kind == K::Dict) {
          const std::string k = printable(io::repr(v->entries[i].first, 2, kTextLimit));
          out += k + ": ";
          text(v->entries[i].second, indent + "  ", depth + 1, id, true, static_cast<int64_t>(i), k);
        } else {
          out += "[" + std::to_string(i) + "]: ";
          text(v->items[i], indent + "  ", depth + 1, id, false, static_cast<int64_t>(i), "");
        }
      }
      return;
    }
    if (refers_back(v)) record(v, parent, in_dict, index, key);
    if (v->kind == K::Object) {
      out += "object " + printable(class_of(v)) + ": " + printable(io::repr(v, 3, kTextLimit)) + "\n";
      return;
    }
    if (v->kind == K::Storage) {
      out += "storage " + std::string(dtype_name(v->storage_dtype)) + " " + std::to_string(v->storage.nbytes()) +
             " bytes\n";
      return;
    }
    out += printable(io::repr(v, 2, kTextLimit)) + "\n";
  }

  // ---- json ----
  void json(const ValuePtr& v, int depth, int parent, bool in_dict, int64_t index, const std::string& key) {
    if (!v) { out += "null"; return; }
    if (const int at = printed_at(v); at >= 0) {
      out += "{\"type\":\"ref\",\"$ref\":" + json_str(pointer_of(at)) + ",\"path\":" + json_str(path_of(at)) + "}";
      return;
    }
    const bool container = v->kind == K::Dict || v->kind == K::List || v->kind == K::Tuple;
    const bool expands =
        container && depth < max_depth && !(v->kind == K::Dict ? v->entries.empty() : v->items.empty());
    const bool undefined = v->kind == K::Tensor && !v->tensor.defined();
    const int id = (container ? expands : refers_back(v) && !undefined) ? record(v, parent, in_dict, index, key) : -1;
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
        if (s.stats_skipped) out += ",\"stats_skipped\":true";
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
          std::string ks = k && k->kind == K::Str ? k->s : io::repr(k, 2, kJsonKeyLimit);
          const bool cut_key = ks.size() > kJsonKeyLimit;
          out += "{\"key\":" + json_str(cut_key ? io::utf8_cut(ks, kJsonKeyLimit) : ks);
          // int 1 and str '1' print alike: a key that is not a str says its type.
          if (!k || k->kind != K::Str) out += ",\"key_type\":" + json_str(k ? k->kind_name() : "None");
          if (cut_key) out += ",\"key_truncated\":true";
          out += ",\"value\":";
          json(x, depth + 1, id, true, static_cast<int64_t>(i), io::repr(k, 2, kTextLimit));
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
          json(v->items[i], depth + 1, id, false, static_cast<int64_t>(i), "");
        }
        out += "]}";
        return;
      }
      case K::Object:
        out += "{\"type\":\"object\",\"class\":" + json_str(class_of(v)) +
               ",\"repr\":" + json_str(io::repr(v, 3, kJsonLimit)) + "}";
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
  // Every flag is checked before the file is opened: a bad one is a usage error (exit 2).
  const int max_depth = static_cast<int>(args.integer("--depth", 64, 0, 100000));
  const bool as_json = args.has("--json");
  io::LoadOptions opt;
  opt.safe = args.has("--safe");
  opt.map_location = io::MapLocation::parse("cpu");  // CUDA files open on CPU builds; devices shown as saved
  opt.mmap = true;
  std::vector<std::pair<std::string, std::string>> metadata;
  const io::Checkpoint ck = load_any(path, opt, &metadata);

  Inspector in;
  in.max_depth = max_depth;
  in.map_locations(ck);
  if (as_json) {
    in.out = "{\"file\":" + json_str(path) + ",\"format\":" + json_str(ck.format) + ",\"safe\":" +
             (opt.safe ? "true" : "false") + ",\"storages\":" + std::to_string(ck.storages.size());
    if (!metadata.empty()) {
      in.out += ",\"metadata\":{";
      for (size_t i = 0; i < metadata.size(); ++i)
        in.out += (i ? "," : "") + json_str(metadata[i].first) + ":" + json_str(metadata[i].second);
      in.out += "}";
    }
    in.out += ",\"root\":";
    in.json(ck.root, 0, -1, false, 0, "");
    in.out += ",\"totals\":{\"tensors\":" + std::to_string(in.n_tensors) + ",\"elements\":" +
              std::to_string(in.n_elements) + ",\"bytes\":" + std::to_string(in.n_bytes) + "}}\n";
  } else {
    in.out = printable(path) + " (" + ck.format +
             (ck.format == "safetensors" ? "" : ", " + std::to_string(ck.storages.size()) + " storages") + ")\n";
    // Names and values from the file are shown as Python reprs: no raw control characters.
    for (const auto& [k, v] : metadata)
      in.out += "metadata " + io::repr(io::Value::str(k)) + " = " + io::repr(io::Value::str(v)) + "\n";
    in.text(ck.root, "", 0, -1, false, 0, "");
    in.out += "total: " + std::to_string(in.n_tensors) + " tensors, " + std::to_string(in.n_elements) +
              " elements, " + std::to_string(in.n_bytes) + " bytes\n";
  }
  std::fputs(in.out.c_str(), stdout);
  return 0;
}

}  // namespace

extern const Command kInspectCommand = {
    "inspect", "show a checkpoint's tree: keys, values, tensors (dtype, shape, device)",
    "usage: torchless inspect FILE [--json] [--safe] [--depth N]\n"
    "  Shows a torch.save checkpoint (zip or legacy) or a .safetensors file as a tree:\n"
    "  keys, Python values (as Python reprs: control characters escaped), and for each\n"
    "  tensor its dtype, shape, the device it was saved on, min/max/mean (floating\n"
    "  types) and its first values; then totals: distinct tensors, their elements (every\n"
    "  tensor's, optimizer state included: not the model's parameter count) and storage\n"
    "  bytes. An expanded (stride-0) tensor is summarised without being materialised.\n"
    "  Nothing in the file is executed; CUDA tensors are read onto the CPU.\n"
    "  A value the file shares between several places (pickle's memo: tied weights,\n"
    "  one list referenced twice) is shown in full once; later places print\n"
    "  '<same as PATH>', PATH being where it was shown, e.g. root['state_dict'][0].\n"
    "  --json     print the same as one JSON document; a shared value's later places\n"
    "             are {\"type\":\"ref\",\"$ref\":\"#/root/items/0\",\"path\":\"root[0]\"}, $ref\n"
    "             being a JSON Pointer to where this document shows it in full; a dict's\n"
    "             entries are {\"key\":...,\"value\":...}, with \"key_type\" (\"int\", ...)\n"
    "             when the key is not a str (int 1 and str '1' both print \"1\")\n"
    "  --safe     refuse globals outside torch's weights_only allowlist\n"
    "  --depth N  expand containers N levels deep (default 64)\n",
    run_inspect};

}  // namespace torchless::cli
