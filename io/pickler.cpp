// Byte-identity with torch.save: CPython's pickler memoizes by object
// identity, and unpickle() turns every memo reference back into a shared
// ValuePtr, so memoizing by ValuePtr identity here reproduces the original
// BINPUT/BINGET pattern. Where it cannot:
//  * values the unpickler folds away (the _codecs.encode call behind a Bytes
//    value, the list behind a set) are rebuilt fresh; if the original file
//    referenced one of those intermediate objects again elsewhere, the copy
//    here writes it again instead of a BINGET, and memo numbers shift;
//  * the 'latin1' argument of _codecs.encode is one shared string here, as
//    CPython's interned literal is; the pickle of a py2 file that spelled it
//    differently comes out different;
//  * anything a hook builds fresh on every call (persistent ids, tensor
//    rebuild objects) is only memoized as well as the hook shares its parts:
//    torch's layer must hand back the same ValuePtr for 'storage', the
//    location string and a storage's key to match torch's output.
// Any consistent memo policy loads identically; only byte-identity depends
// on this.
#include "io/pickler.h"

#include <cstring>
#include <unordered_map>
#include <utility>

namespace torchless::io {

namespace {

using K = Value::Kind;
constexpr size_t kBatch = 1000;  // CPython's BATCHSIZE for APPENDS/SETITEMS

// Protocol 2 is meant for Python 2 readers, so CPython writes the Python 2
// spelling of renamed modules and names (_compat_pickle's reverse maps).
std::pair<std::string, std::string> py2_spelling(const std::string& module, const std::string& name) {
  static const std::pair<std::pair<const char*, const char*>, std::pair<const char*, const char*>> kNames[] = {
      {{"builtins", "range"}, {"__builtin__", "xrange"}},
      {{"functools", "reduce"}, {"__builtin__", "reduce"}},
      {{"_functools", "reduce"}, {"__builtin__", "reduce"}},
      {{"sys", "intern"}, {"__builtin__", "intern"}},
      {{"builtins", "chr"}, {"__builtin__", "unichr"}},
      {{"builtins", "str"}, {"__builtin__", "unicode"}},
      {{"builtins", "int"}, {"__builtin__", "long"}},
      {{"builtins", "zip"}, {"itertools", "izip"}},
      {{"builtins", "map"}, {"itertools", "imap"}},
      {{"builtins", "filter"}, {"itertools", "ifilter"}},
      {{"itertools", "filterfalse"}, {"itertools", "ifilterfalse"}},
      {{"itertools", "zip_longest"}, {"itertools", "izip_longest"}},
      {{"collections", "UserDict"}, {"UserDict", "IterableUserDict"}},
      {{"collections", "UserList"}, {"UserList", "UserList"}},
      {{"collections", "UserString"}, {"UserString", "UserString"}},
  };
  static const std::pair<const char*, const char*> kModules[] = {
      {"builtins", "__builtin__"}, {"copyreg", "copy_reg"}, {"queue", "Queue"},
      {"reprlib", "repr"},         {"_thread", "thread"},   {"collections.abc", "_abcoll"},
      {"_functools", "functools"}, {"_pickle", "pickle"},
  };
  for (const auto& [from, to] : kNames) {
    if (module == from.first && name == from.second) return {to.first, to.second};
  }
  for (const auto& [from, to] : kModules) {
    if (module == from) return {to, name};
  }
  return {module, name};
}

std::pair<std::string, std::string> split_qualified(const std::string& full) {
  size_t dot = full.rfind('.');
  if (dot == std::string::npos) return {"builtins", full};
  return {full.substr(0, dot), full.substr(dot + 1)};
}

// Minimal little-endian two's complement, as CPython's encode_long writes it.
std::string minimal_twos(int64_t v) {
  std::string b(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (int k = 0; k < 8; ++k) b[k] = static_cast<char>((u >> (8 * k)) & 0xFF);
  while (b.size() > 1) {
    auto last = static_cast<unsigned char>(b[b.size() - 1]);
    auto prev = static_cast<unsigned char>(b[b.size() - 2]);
    if ((last == 0x00 && !(prev & 0x80)) || (last == 0xFF && (prev & 0x80))) b.pop_back();
    else break;
  }
  return b;
}

// UTF-8 text whose code points are the bytes (what bytes.decode('latin1') gives).
std::string latin1_text(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

class Pickler {
 public:
  explicit Pickler(const PickleOptions& opt) : opt_(opt) {}

  std::string run(const ValuePtr& v) {
    out_ = "\x80\x02";
    save(v, false);
    out_ += '.';
    return std::move(out_);
  }

 private:
  const PickleOptions& opt_;
  std::string out_;
  uint32_t next_ = 0;
  // The memo holds a reference to every memoized value, so that no address
  // is reused by a temporary while it is still a memo key.
  std::unordered_map<const Value*, std::pair<uint32_t, ValuePtr>> memo_;
  std::unordered_map<std::string, uint32_t> globals_;  // "module\nname" -> memo index
  std::unordered_map<const void*, std::pair<ValuePtr, ValuePtr>> tensors_;  // impl -> (tensor, replacement)
  ValuePtr latin1_ = Value::str("latin1");
  size_t depth_ = 0;

  [[noreturn]] static void fail(const std::string& what) { throw PickleError("pickle: cannot write " + what); }

  void u32(uint32_t v) {
    for (int k = 0; k < 4; ++k) out_ += static_cast<char>((v >> (8 * k)) & 0xFF);
  }
  void write_put(uint32_t i) {
    if (i < 256) { out_ += 'q'; out_ += static_cast<char>(i); }
    else { out_ += 'r'; u32(i); }
  }
  void write_get(uint32_t i) {
    if (i < 256) { out_ += 'h'; out_ += static_cast<char>(i); }
    else { out_ += 'j'; u32(i); }
  }
  void memoize(const ValuePtr& v) {
    memo_[v.get()] = {next_, v};
    write_put(next_++);
  }
  // After a REDUCE/TUPLE of a value that its own parts referenced (a cycle),
  // CPython drops what it built and fetches the memoized one instead.
  bool memoized_meanwhile(const ValuePtr& v, const char* pops) {
    auto it = memo_.find(v.get());
    if (it == memo_.end()) return false;
    out_ += pops;
    write_get(it->second.first);
    return true;
  }

  struct DepthGuard {
    size_t& d;
    DepthGuard(size_t& depth, size_t max) : d(depth) {
      if (++d > max) { --d; fail("a value nested more than " + std::to_string(max) + " levels deep (or a cycle through tuples)"); }
    }
    ~DepthGuard() { --d; }
  };

  void save(const ValuePtr& v, bool is_pid) {
    if (!v) fail("a null value");
    DepthGuard guard(depth_, opt_.max_depth);
    if (!is_pid && opt_.persistent_id) {
      if (auto pid = opt_.persistent_id(v)) {
        save(*pid, true);
        out_ += 'Q';
        return;
      }
    }
    auto hit = memo_.find(v.get());
    if (hit != memo_.end()) {
      write_get(hit->second.first);
      return;
    }
    switch (v->kind) {
      case K::None: out_ += 'N'; return;
      case K::Bool: out_ += v->b ? '\x88' : '\x89'; return;
      case K::Int: save_int(v->i); return;
      case K::BigInt: save_long_bytes(v->s); return;
      case K::Float: {
        uint64_t bits;
        std::memcpy(&bits, &v->f, 8);
        out_ += 'G';
        for (int k = 7; k >= 0; --k) out_ += static_cast<char>((bits >> (8 * k)) & 0xFF);
        return;
      }
      case K::Str:
        if (v->s.size() > 0xFFFFFFFFu) fail("a str over 4 GiB in protocol 2");
        out_ += 'X';
        u32(static_cast<uint32_t>(v->s.size()));
        out_ += v->s;
        memoize(v);
        return;
      case K::Bytes: save_bytes(v); return;
      case K::List:
        if (v->cls.empty()) save_list(v);
        else save_reduce(global_of(v->cls), Value::tuple({Value::list(v->items)}), v);
        return;
      case K::Tuple: save_tuple(v); return;
      case K::Dict: save_dict(v); return;
      case K::Global: save_global(v->s, v->name); return;
      case K::Object: save_object(v); return;
      case K::Storage: fail("a storage: no persistent_id hook claimed it");
      case K::Tensor: save_tensor(v); return;
    }
    fail("a value of unknown kind");
  }

  void save_int(int64_t x) {
    if (x >= 0 && x < 0x100) {
      out_ += 'K';
      out_ += static_cast<char>(x);
    } else if (x >= 0 && x < 0x10000) {
      out_ += 'M';
      out_ += static_cast<char>(x & 0xFF);
      out_ += static_cast<char>(x >> 8);
    } else if (x >= INT32_MIN && x <= INT32_MAX) {
      out_ += 'J';
      u32(static_cast<uint32_t>(static_cast<int32_t>(x)));
    } else {
      save_long_bytes(minimal_twos(x));
    }
  }
  void save_long_bytes(const std::string& b) {
    if (b.size() < 256) {
      out_ += '\x8a';
      out_ += static_cast<char>(b.size());
    } else {
      if (b.size() > 0x7FFFFFFF) fail("an int over 2 GiB");
      out_ += '\x8b';
      u32(static_cast<uint32_t>(b.size()));
    }
    out_ += b;
  }

  ValuePtr global_of(const std::string& qualified) {
    auto [m, n] = split_qualified(qualified);
    return Value::global(m, n);
  }
  void save_global(const std::string& module, const std::string& name) {
    auto [m, n] = py2_spelling(module, name);
    if (m.find('\n') != std::string::npos || n.find('\n') != std::string::npos) {
      fail("a global whose name contains a newline");
    }
    std::string key = m + "\n" + n;
    auto it = globals_.find(key);
    if (it != globals_.end()) {
      write_get(it->second);
      return;
    }
    out_ += 'c';
    out_ += key;
    out_ += '\n';
    globals_[key] = next_;
    write_put(next_++);
  }

  void save_reduce(const ValuePtr& fn, const ValuePtr& args, const ValuePtr& obj) {
    save(fn, false);
    save(args, false);
    out_ += 'R';
    if (!memoized_meanwhile(obj, "0")) memoize(obj);
  }

  void save_bytes(const ValuePtr& v) {
    if (!v->cls.empty()) {  // bytearray: bytearray(bytes) in protocol 2
      ValuePtr args = v->s.empty() ? Value::tuple() : Value::tuple({Value::bytes(v->s)});
      save_reduce(global_of(v->cls), args, v);
      return;
    }
    if (v->s.empty()) {
      save_reduce(Value::global("builtins", "bytes"), Value::tuple(), v);
      return;
    }
    save_reduce(Value::global("_codecs", "encode"), Value::tuple({Value::str(latin1_text(v->s)), latin1_}), v);
  }

  void save_list(const ValuePtr& v) {
    out_ += ']';
    memoize(v);
    const auto& items = v->items;
    if (items.size() == 1) {  // CPython's batch_list_exact special case
      save(items[0], false);
      out_ += 'a';
      return;
    }
    for (size_t i = 0; i < items.size();) {
      out_ += '(';
      for (size_t k = 0; k < kBatch && i < items.size(); ++k, ++i) save(items[i], false);
      out_ += 'e';
    }
  }

  // Items of a non-list (an Object's appended items): CPython's batch_list
  // writes a lone trailing item with APPEND.
  void save_appends(const std::vector<ValuePtr>& items) {
    size_t i = 0;
    while (i < items.size()) {
      if (items.size() - i == 1) {
        save(items[i++], false);
        out_ += 'a';
        break;
      }
      out_ += '(';
      for (size_t k = 0; k < kBatch && i < items.size(); ++k, ++i) save(items[i], false);
      out_ += 'e';
    }
  }
  // Entries of anything but an exact dict (OrderedDict, objects): batch_dict.
  void save_setitems(const std::vector<std::pair<ValuePtr, ValuePtr>>& e) {
    size_t i = 0;
    while (i < e.size()) {
      if (e.size() - i == 1) {
        save(e[i].first, false);
        save(e[i].second, false);
        out_ += 's';
        ++i;
        break;
      }
      out_ += '(';
      for (size_t k = 0; k < kBatch && i < e.size(); ++k, ++i) {
        save(e[i].first, false);
        save(e[i].second, false);
      }
      out_ += 'u';
    }
  }

  void save_tuple(const ValuePtr& v) {
    const auto& items = v->items;
    size_t n = items.size();
    if (n == 0) {  // the empty tuple is a singleton; CPython never memoizes it
      out_ += ')';
      return;
    }
    if (n <= 3) {
      for (const auto& it : items) save(it, false);
      if (memoized_meanwhile(v, std::string(n, '0').c_str())) return;
      out_ += static_cast<char>(0x84 + n);
      memoize(v);
      return;
    }
    out_ += '(';
    for (const auto& it : items) save(it, false);
    if (memoized_meanwhile(v, "1")) return;
    out_ += 't';
    memoize(v);
  }

  void save_dict(const ValuePtr& v) {
    if (v->cls == "collections.Counter") {  // Counter.__reduce__: Counter(dict(self))
      ValuePtr plain = Value::dict();
      plain->entries = v->entries;
      save_reduce(global_of(v->cls), Value::tuple({plain}), v);
      return;
    }
    if (!v->cls.empty()) {  // OrderedDict.__reduce__: cls(), items, __dict__
      save_reduce(global_of(v->cls), Value::tuple(), v);
      save_setitems(v->entries);
      if (v->state && !(v->state->kind == K::Dict && v->state->entries.empty())) {
        save(v->state, false);
        out_ += 'b';
      }
      return;
    }
    out_ += '}';
    memoize(v);
    const auto& e = v->entries;
    if (e.empty()) return;
    if (e.size() == 1) {
      save(e[0].first, false);
      save(e[0].second, false);
      out_ += 's';
      return;
    }
    // batch_dict_exact: a batch that comes out exactly full is followed by
    // another, possibly empty, batch.
    size_t i = 0;
    size_t in_batch;
    do {
      out_ += '(';
      in_batch = 0;
      while (i < e.size()) {
        save(e[i].first, false);
        save(e[i].second, false);
        ++i;
        if (++in_batch == kBatch) break;
      }
      out_ += 'u';
    } while (in_batch == kBatch);
  }

  void save_object(const ValuePtr& v) {
    if (!v->callable) fail("an object without a callable");
    ValuePtr args = v->args ? v->args : Value::tuple();
    if (v->cls == "__newobj__" || v->cls == "__newobj_ex__") {
      save(v->callable, false);
      if (v->cls == "__newobj_ex__") {
        // Not a protocol 2 opcode, but every Python 3 unpickler reads it.
        if (args->kind != K::Tuple || args->items.size() != 2) fail("a NEWOBJ_EX object without (args, kwargs)");
        save(args->items[0], false);
        save(args->items[1], false);
        out_ += '\x92';
      } else {
        save(args, false);
        out_ += '\x81';
      }
      if (memoized_meanwhile(v, "0")) return;
      memoize(v);
    } else {
      save_reduce(v->callable, args, v);
    }
    save_appends(v->items);
    save_setitems(v->entries);
    if (v->state) {
      save(v->state, false);
      out_ += 'b';
    }
  }

  void save_tensor(const ValuePtr& v) {
    if (!opt_.tensor_hook) fail("a tensor: no tensor_hook given");
    const void* key = v->tensor.defined() ? static_cast<const void*>(v->tensor.impl_ptr().get())
                                          : static_cast<const void*>(v.get());
    auto it = tensors_.find(key);
    if (it == tensors_.end()) {
      ValuePtr r = opt_.tensor_hook(v);
      if (!r) fail("a tensor: tensor_hook returned nothing");
      if (r->kind == K::Tensor) fail("a tensor: tensor_hook returned a tensor");
      it = tensors_.emplace(key, std::make_pair(v, std::move(r))).first;
    }
    save(it->second.second, false);
  }
};

}  // namespace

std::string pickle(const ValuePtr& v, const PickleOptions& opt) {
  return Pickler(opt).run(v);
}

}  // namespace torchless::io
