#include "io/pickle_scan.h"

#include <algorithm>
#include <exception>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "io/unpickler.h"
#include "io/value.h"

namespace torchless::io {
namespace {

using K = Value::Kind;

// Bounds on what one file can make the scan do: nested pickles in all, and
// the nodes searched for the bytes a nested loader is given.
constexpr size_t kMaxNestedPickles = 64;
constexpr size_t kMaxArgNodes = 10000;

class Scanner {
 public:
  Scanner(PickleScan& out, int max_nesting) : out_(out), max_nesting_(max_nesting) {}

  void scan(std::string_view bytes, const std::string& label, size_t* consumed, int nesting) {
    std::unordered_map<std::string, size_t> index;  // name -> position in out_.globals
    auto use = [&](const std::string& name) -> GlobalUse& {
      auto [it, fresh] = index.emplace(name, out_.globals.size());
      if (fresh) {
        GlobalUse g;
        g.name = name;
        g.risk = classify_global(name);
        g.pickle = label;
        out_.globals.push_back(std::move(g));
      }
      return out_.globals[it->second];
    };

    UnpickleOptions uo;
    uo.persistent_load = [](const ValuePtr& pid) { return pid; };  // storages stay inert ids
    uo.on_global = [&](const std::string& name, size_t offset) {
      GlobalUse& g = use(name);
      if (g.uses++ == 0) g.offset = offset;
    };
    ValuePtr root;
    size_t used = 0;
    try {
      root = unpickle(bytes, uo, &used);
    } catch (const std::exception& e) {
      out_.problems.push_back(label + ": " + e.what());
      if (consumed) *consumed = 0;
      return;
    }
    if (consumed) *consumed = used;
    walk(root, [&](const std::string& name, const std::string& path) {
      GlobalUse& g = use(name);
      if (g.paths.size() < GlobalUse::kMaxPaths) g.paths.push_back(path);
      else ++g.more_paths;
    }, label, nesting);
    release(root);  // a pickle's cycles would leak otherwise
  }

 private:
  PickleScan& out_;
  int max_nesting_;
  size_t nested_ = 0;

  // Depth-first over the tree, each node once (the memo shares nodes; a
  // walk by path could be exponential), without recursion.
  template <typename Record>
  void walk(const ValuePtr& root, Record&& record, const std::string& label, int nesting) {
    struct Node {
      const Value* v;
      size_t parent;
      std::string piece;
    };
    constexpr size_t kNone = static_cast<size_t>(-1);
    std::vector<Node> nodes;
    std::vector<size_t> todo;
    std::unordered_set<const Value*> seen;
    auto path = [&](size_t i) {
      std::vector<const std::string*> pieces;
      for (; i != kNone; i = nodes[i].parent) pieces.push_back(&nodes[i].piece);
      std::string s;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) s += **it;
      return s;
    };
    auto add = [&](const ValuePtr& v, size_t parent, std::string piece) {
      if (!v || !seen.insert(v.get()).second) return;
      nodes.push_back({v.get(), parent, std::move(piece)});
      todo.push_back(nodes.size() - 1);
    };
    add(root, kNone, "root");
    while (!todo.empty()) {
      const size_t i = todo.back();
      todo.pop_back();
      const Value& v = *nodes[i].v;
      if (v.kind == K::Global) {
        record(v.s + "." + v.name, path(i));
        continue;
      }
      if (v.kind == K::Object && v.callable && v.callable->kind == K::Global) {
        const std::string fn = v.callable->s + "." + v.callable->name;
        record(fn, path(i));
        if (loads_nested_pickle(fn) && v.args) scan_nested(*v.args, label + ": " + path(i) + ".args", nesting);
      } else if (v.kind == K::Object) {
        add(v.callable, i, ".callable");
      }
      for (size_t k = v.items.size(); k-- > 0;) add(v.items[k], i, "[" + std::to_string(k) + "]");
      for (size_t k = v.entries.size(); k-- > 0;) {
        const auto& [key, x] = v.entries[k];
        const std::string piece = "[" + repr(key, 1, 64) + "]";
        add(x, i, piece);
        if (key && (key->kind == K::Object || key->kind == K::Global)) add(key, i, piece + " (the key)");
      }
      add(v.state, i, ".state");
      add(v.args, i, ".args");
    }
  }

  // The bytes among a nested loader's arguments (directly, or inside an
  // io.BytesIO(...) or similar call) are pickles it would load.
  void scan_nested(const Value& args, const std::string& label, int nesting) {
    if (nesting >= max_nesting_) {
      out_.problems.push_back(label + ": nested pickles deeper than " + std::to_string(max_nesting_) +
                              " levels were not scanned");
      return;
    }
    std::vector<const Value*> todo{&args};
    std::unordered_set<const Value*> seen{&args};
    size_t visited = 0;
    while (!todo.empty() && visited++ < kMaxArgNodes) {
      const Value* v = todo.back();
      todo.pop_back();
      if (v->kind == K::Bytes) {
        if (nested_++ >= kMaxNestedPickles) {
          out_.problems.push_back(label + ": more than " + std::to_string(kMaxNestedPickles) +
                                  " nested pickles; the rest were not scanned");
          return;
        }
        scan(v->s, label + " (nested pickle)", nullptr, nesting + 1);
        continue;
      }
      auto push = [&](const ValuePtr& c) {
        if (c && seen.insert(c.get()).second) todo.push_back(c.get());
      };
      for (const auto& c : v->items) push(c);
      for (const auto& [k, x] : v->entries) push(x);
      push(v->args);
      push(v->state);
    }
  }
};

}  // namespace

GlobalRisk PickleScan::worst() const {
  GlobalRisk w = GlobalRisk::Allowed;
  for (const GlobalUse& g : globals) w = std::max(w, g.risk);
  return w;
}

void scan_pickle(std::string_view bytes, const std::string& label, PickleScan& out, size_t* consumed,
                 int max_nesting) {
  Scanner(out, max_nesting).scan(bytes, label, consumed, 0);
}

}  // namespace torchless::io
