#include "io/unpickler.h"

#include "io/utf8.h"

#include <charconv>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

namespace torchless::io {

namespace {

using K = Value::Kind;

// Python refuses int <-> str conversions beyond this many digits (3.11+); a
// longer decimal INT/LONG line would also cost quadratic time here.
constexpr size_t kMaxDecimalDigits = 4300;
// Dict keys longer than this are deduplicated by identity only, so a hostile
// file cannot make every SETITEM hash a megabyte.
constexpr size_t kMaxKeyBytes = 1024;

// ---- text helpers ----

// Decodes UTF-8 (surrogates allowed) into code points; false if malformed.
bool decode_utf8(std::string_view s, std::vector<uint32_t>* out) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; n = 2; }
    else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; n = 3; }
    else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; n = 4; }
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF) return false;  // overlong or out of range
    if (out) out->push_back(cp);
    i += n;
  }
  return true;
}

bool is_latin1_name(const std::string& enc) {
  return enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" || enc == "iso8859-1" ||
         enc == "l1" || enc == "latin_1";
}

// str (UTF-8) whose code points are all < 256 -> the latin-1 bytes.
bool latin1_bytes(const std::string& text, std::string* out) {
  std::vector<uint32_t> cps;
  if (!decode_utf8(text, &cps)) return false;
  out->clear();
  out->reserve(cps.size());
  for (uint32_t cp : cps) {
    if (cp > 0xFF) return false;
    *out += static_cast<char>(cp);
  }
  return true;
}

// ---- integers ----

// Decimal digits (no sign) -> little-endian magnitude bytes.
std::string decimal_magnitude(std::string_view digits) {
  std::vector<uint32_t> limbs;  // little-endian base 2^32
  for (char ch : digits) {
    uint64_t carry = static_cast<uint64_t>(ch - '0');
    for (auto& l : limbs) {
      uint64_t v = uint64_t(l) * 10 + carry;
      l = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) limbs.push_back(static_cast<uint32_t>(carry));
  }
  std::string out;
  for (auto l : limbs) {
    for (int k = 0; k < 4; ++k) out += static_cast<char>((l >> (8 * k)) & 0xFF);
  }
  return out;
}

// Little-endian magnitude + sign -> Int when it fits in int64, else BigInt.
ValuePtr int_from_magnitude(std::string mag, bool negative) {
  while (!mag.empty() && mag.back() == 0) mag.pop_back();
  if (mag.size() <= 8) {
    uint64_t u = 0;
    for (size_t k = 0; k < mag.size(); ++k) u |= uint64_t(static_cast<unsigned char>(mag[k])) << (8 * k);
    if (!negative && u <= uint64_t(std::numeric_limits<int64_t>::max())) return Value::integer(int64_t(u));
    if (negative && u <= uint64_t(std::numeric_limits<int64_t>::max()) + 1) {
      return Value::integer(static_cast<int64_t>(~u + 1));
    }
  }
  mag.push_back(0);  // room for the sign bit
  if (negative) {
    int carry = 1;
    for (auto& ch : mag) {
      int v = static_cast<uint8_t>(~static_cast<uint8_t>(ch)) + carry;
      ch = static_cast<char>(v & 0xFF);
      carry = v >> 8;
    }
  }
  return Value::big_integer(std::move(mag));
}

// Little-endian two's complement (LONG1/LONG4) -> Int or BigInt.
ValuePtr int_from_twos(std::string_view b) {
  if (b.empty()) return Value::integer(0);
  bool negative = static_cast<unsigned char>(b.back()) & 0x80;
  std::string mag(b);
  if (negative) {
    int carry = 1;
    for (auto& ch : mag) {
      int v = static_cast<uint8_t>(~static_cast<uint8_t>(ch)) + carry;
      ch = static_cast<char>(v & 0xFF);
      carry = v >> 8;
    }
  }
  return int_from_magnitude(std::move(mag), negative);
}

// ---- Python 2 -> 3 names (CPython's _compat_pickle, the parts checkpoints meet) ----

std::pair<std::string, std::string> map_py2_name(std::string module, std::string name) {
  static const std::pair<std::pair<const char*, const char*>, std::pair<const char*, const char*>> kNames[] = {
      {{"__builtin__", "xrange"}, {"builtins", "range"}},
      {{"__builtin__", "reduce"}, {"functools", "reduce"}},
      {{"__builtin__", "intern"}, {"sys", "intern"}},
      {{"__builtin__", "unichr"}, {"builtins", "chr"}},
      {{"__builtin__", "unicode"}, {"builtins", "str"}},
      {{"__builtin__", "long"}, {"builtins", "int"}},
      {{"__builtin__", "basestring"}, {"builtins", "str"}},
      {{"itertools", "izip"}, {"builtins", "zip"}},
      {{"itertools", "imap"}, {"builtins", "map"}},
      {{"itertools", "ifilter"}, {"builtins", "filter"}},
      {{"itertools", "ifilterfalse"}, {"itertools", "filterfalse"}},
      {{"itertools", "izip_longest"}, {"itertools", "zip_longest"}},
      {{"UserDict", "IterableUserDict"}, {"collections", "UserDict"}},
      {{"UserDict", "UserDict"}, {"collections", "UserDict"}},
      {{"UserList", "UserList"}, {"collections", "UserList"}},
      {{"UserString", "UserString"}, {"collections", "UserString"}},
      {{"exceptions", "StandardError"}, {"builtins", "Exception"}},
  };
  static const std::pair<const char*, const char*> kModules[] = {
      {"__builtin__", "builtins"}, {"copy_reg", "copyreg"}, {"Queue", "queue"},
      {"cPickle", "pickle"},       {"StringIO", "io"},      {"cStringIO", "io"},
      {"UserDict", "collections"}, {"UserList", "collections"}, {"UserString", "collections"},
      {"thread", "_thread"},       {"repr", "reprlib"},     {"_abcoll", "collections.abc"},
      {"exceptions", "builtins"},
  };
  for (const auto& [from, to] : kNames) {
    if (module == from.first && name == from.second) return {to.first, to.second};
  }
  for (const auto& [from, to] : kModules) {
    if (module == from) return {to, std::move(name)};
  }
  return {std::move(module), std::move(name)};
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const UnpickleOptions& opt) : d_(data), opt_(opt) {}

  ValuePtr run() {
    try {
      ValuePtr result = loop();
      check_depth(result);
      created_.clear();
      return result;
    } catch (...) {
      dismantle();
      throw;
    }
  }

  size_t consumed() const { return pos_; }

 private:
  std::string_view d_;
  const UnpickleOptions& opt_;
  size_t pos_ = 0;
  size_t op_ = 0;  // offset of the opcode being executed, for messages
  int proto_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  // Every container made here, so that teardown and the depth check can walk
  // them without recursion; also keeps nodes alive until the checks are done.
  std::vector<ValuePtr> created_;
  std::unordered_map<const Value*, size_t> depth_;
  std::unordered_map<const Value*, std::unordered_map<std::string, size_t>> dict_index_;

  [[noreturn]] void fail(const std::string& what) const {
    throw UnpickleError("pickle: " + what + " at byte " + std::to_string(op_));
  }

  // ---- input ----
  void need(uint64_t n, const char* what) {
    size_t left = d_.size() - pos_;
    if (n > left) {
      fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
           std::to_string(left) + " left");
    }
  }
  std::string_view take(uint64_t n, const char* what) {
    need(n, what);
    auto v = d_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return v;
  }
  uint64_t le(size_t n, const char* what) {
    auto b = take(n, what);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(static_cast<unsigned char>(b[k])) << (8 * k);
    return v;
  }
  std::string_view line(const char* what) {
    size_t nl = d_.find('\n', pos_);
    if (nl == std::string_view::npos) fail(std::string("truncated: ") + what + " has no end of line");
    auto v = d_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return v;
  }
  // Length-prefixed payloads: the length is checked against the input before use.
  std::string_view sized(size_t len_bytes, const char* what) {
    uint64_t n = le(len_bytes, what);
    if (n > d_.size() - pos_) {
      fail(std::string(what) + " declares " + std::to_string(n) + " bytes but only " +
           std::to_string(d_.size() - pos_) + " remain");
    }
    return take(n, what);
  }

  // ---- stack ----
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.size() <= fence()) fail("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const ValuePtr& top() const {
    if (stack_.size() <= fence()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }

  // ---- containers and nesting ----
  ValuePtr container(ValuePtr v) {
    created_.push_back(v);
    depth_[v.get()] = 1;
    return v;
  }
  size_t depth_of(const ValuePtr& v) const {
    auto it = depth_.find(v.get());
    return it == depth_.end() ? 0 : it->second;
  }
  // Depth bookkeeping is eager (quick, precise error for the obvious attacks);
  // mutation of an already-nested container can make it stale, which
  // check_depth() catches at the end.
  void note_child(const ValuePtr& parent, const ValuePtr& child) {
    size_t d = depth_of(child) + 1;
    if (d > opt_.max_depth) fail("nesting too deep (more than " + std::to_string(opt_.max_depth) + " levels)");
    auto& pd = depth_[parent.get()];
    if (d > pd) pd = d;
  }
  ValuePtr make_seq(K kind, std::vector<ValuePtr> items, std::string cls = "") {
    ValuePtr v = container(kind == K::List ? Value::list() : Value::tuple());
    v->cls = std::move(cls);
    for (const auto& it : items) note_child(v, it);
    v->items = std::move(items);
    return v;
  }

  static void children(const Value& v, std::vector<const Value*>& out) {
    for (const auto& c : v.items) if (c) out.push_back(c.get());
    for (const auto& [k, x] : v.entries) {
      if (k) out.push_back(k.get());
      if (x) out.push_back(x.get());
    }
    if (v.callable) out.push_back(v.callable.get());
    if (v.args) out.push_back(v.args.get());
    if (v.state) out.push_back(v.state.get());
  }

  // Exact nesting depth of everything built, iteratively (cycles are skipped).
  void check_depth(const ValuePtr& result) {
    std::unordered_map<const Value*, size_t> done;
    std::unordered_set<const Value*> open;
    struct Frame { const Value* v; std::vector<const Value*> kids; size_t next; size_t best; };
    std::vector<Frame> st;
    auto visit = [&](const Value* root) {
      if (done.count(root)) return;
      st.push_back({root, {}, 0, 0});
      children(*root, st.back().kids);
      open.insert(root);
      while (!st.empty()) {
        Frame& f = st.back();
        if (f.next < f.kids.size()) {
          const Value* c = f.kids[f.next++];
          auto it = done.find(c);
          if (it != done.end()) {
            f.best = std::max(f.best, it->second);
          } else if (!open.count(c)) {
            Frame nf{c, {}, 0, 0};
            children(*c, nf.kids);
            open.insert(c);
            st.push_back(std::move(nf));
          }
          continue;
        }
        size_t d = f.kids.empty() ? 0 : f.best + 1;
        if (d > opt_.max_depth) fail("nesting too deep (more than " + std::to_string(opt_.max_depth) + " levels)");
        done[f.v] = d;
        open.erase(f.v);
        st.pop_back();
        if (!st.empty()) st.back().best = std::max(st.back().best, d);
      }
    };
    for (const auto& c : created_) visit(c.get());
    if (result) visit(result.get());
  }

  // Destroys what was built without recursion: a deep tree freed by
  // shared_ptr destructors would overflow the C++ stack.
  void dismantle() noexcept {
    stack_.clear();
    memo_.clear();
    std::vector<ValuePtr> made = std::move(created_);
    for (auto& n : made) release(n);
  }

  // ---- dicts ----
  // Key identity as Python's dict sees it for the hashable values pickles
  // carry; anything else (or too big) is keyed by object identity.
  static bool key_text(const Value& k, std::string& out, int depth) {
    if (out.size() > kMaxKeyBytes) return false;
    char num[64];
    switch (k.kind) {
      case K::None: out += 'N'; return true;
      case K::Bool: out += k.b ? "I1;" : "I0;"; return true;
      case K::Int: out += "I" + std::to_string(k.i) + ";"; return true;
      case K::Float:
        // In range first: converting a double outside int64's range is undefined.
        if (k.f > -9.2e18 && k.f < 9.2e18 && k.f == static_cast<double>(static_cast<int64_t>(k.f))) {
          out += "I" + std::to_string(static_cast<int64_t>(k.f)) + ";";
        } else {
          uint64_t bits;
          std::memcpy(&bits, &k.f, 8);
          std::snprintf(num, sizeof num, "F%llx;", static_cast<unsigned long long>(bits));
          out += num;
        }
        return true;
      case K::BigInt:
      case K::Str:
      case K::Bytes:
        if (k.s.size() > kMaxKeyBytes) return false;
        out += k.kind == K::Str ? 'S' : k.kind == K::Bytes ? 'B' : 'L';
        out += std::to_string(k.s.size()) + ":" + k.s;
        return true;
      case K::Tuple:
        if (depth > 8) return false;
        out += "T" + std::to_string(k.items.size()) + "(";
        for (const auto& c : k.items) {
          if (!c || !key_text(*c, out, depth + 1)) return false;
        }
        out += ")";
        return true;
      default: return false;
    }
  }
  static std::string key_of(const ValuePtr& k) {
    std::string t;
    if (k && key_text(*k, t, 0) && t.size() <= kMaxKeyBytes) return t;
    char p[40];
    std::snprintf(p, sizeof p, "P%p", static_cast<const void*>(k.get()));
    return p;
  }
  void dict_set(const ValuePtr& d, ValuePtr k, ValuePtr v) {
    note_child(d, k);
    note_child(d, v);
    if (d->kind == K::Object) {  // an object's __setitem__ is opaque: keep every pair
      d->entries.emplace_back(std::move(k), std::move(v));
      return;
    }
    auto [it, fresh] = dict_index_.try_emplace(d.get());
    auto& index = it->second;
    if (fresh) {
      for (size_t i = 0; i < d->entries.size(); ++i) index.emplace(key_of(d->entries[i].first), i);
    }
    auto [pos, inserted] = index.emplace(key_of(k), d->entries.size());
    if (inserted) d->entries.emplace_back(std::move(k), std::move(v));
    else d->entries[pos->second].second = std::move(v);
  }
  void set_items(const ValuePtr& target, std::vector<ValuePtr>& kv, const char* op) {
    if (kv.size() % 2) fail(std::string(op) + " with an odd number of items");
    if (target->kind != K::Dict && target->kind != K::Object) {
      fail(std::string(op) + " applied to a " + target->kind_name());
    }
    for (size_t i = 0; i < kv.size(); i += 2) dict_set(target, std::move(kv[i]), std::move(kv[i + 1]));
  }
  void append_items(const ValuePtr& target, std::vector<ValuePtr>& items, const char* op) {
    if (target->kind != K::List && target->kind != K::Object) {
      fail(std::string(op) + " applied to a " + target->kind_name());
    }
    for (auto& it : items) {
      note_child(target, it);
      target->items.push_back(std::move(it));
    }
  }

  // ---- globals and calls ----
  ValuePtr make_global(std::string module, std::string name) {
    auto [m, n] = map_py2_name(std::move(module), std::move(name));
    const std::string full = m + "." + n;
    if (opt_.on_global) opt_.on_global(full, op_);
    if (opt_.safe && (blocked_global(full) || !opt_.allowed_globals.count(full)))
      fail("refusing to load global " + full +
           " (not in the safe allowlist; load with safe=false only if you trust the file)");
    return Value::global(std::move(m), std::move(n));
  }

  // The inert builtins that become plain values; null when `fn(args)` is not one.
  ValuePtr builtin_call(const Value& fn, const ValuePtr& args) {
    if (fn.kind != K::Global) return nullptr;
    const auto& a = args->items;
    const std::string full = fn.s + "." + fn.name;
    if (full == "collections.OrderedDict" || full == "collections.Counter") {
      if (a.size() > 1) return nullptr;
      ValuePtr d = container(Value::dict(full));
      if (a.empty()) return d;
      const ValuePtr& src = a[0];
      if (src->kind == K::Dict) {
        for (const auto& [k, v] : src->entries) dict_set(d, k, v);
        return d;
      }
      if (full == "collections.OrderedDict" && (src->kind == K::List || src->kind == K::Tuple)) {
        for (const auto& p : src->items) {
          if ((p->kind != K::Tuple && p->kind != K::List) || p->items.size() != 2) return nullptr;
        }
        for (const auto& p : src->items) dict_set(d, p->items[0], p->items[1]);
        return d;
      }
      return nullptr;
    }
    if (full == "builtins.set" || full == "builtins.frozenset") {
      if (a.empty()) return make_seq(K::List, {}, full);
      if (a.size() == 1 && (a[0]->kind == K::List || a[0]->kind == K::Tuple)) {
        return make_seq(K::List, a[0]->items, full);
      }
      return nullptr;
    }
    if (full == "_codecs.encode") {
      std::string out;
      if (a.size() == 2 && a[0]->kind == K::Str && a[1]->kind == K::Str && is_latin1_name(a[1]->s) &&
          latin1_bytes(a[0]->s, &out)) {
        return Value::bytes(std::move(out));
      }
      return nullptr;
    }
    if (full == "builtins.bytes" || full == "builtins.bytearray") {
      std::string out;
      bool ok = false;
      if (a.empty()) ok = true;
      else if (a.size() == 1 && a[0]->kind == K::Bytes) { out = a[0]->s; ok = true; }
      else if (a.size() == 2 && a[0]->kind == K::Str && a[1]->kind == K::Str && is_latin1_name(a[1]->s)) {
        ok = latin1_bytes(a[0]->s, &out);
      }
      if (!ok) return nullptr;
      ValuePtr b = Value::bytes(std::move(out));
      if (full == "builtins.bytearray") b->cls = full;
      return b;
    }
    return nullptr;
  }

  enum class Call { Reduce, NewObj, NewObjEx };
  ValuePtr call(ValuePtr fn, ValuePtr args, Call how, ValuePtr kwargs = nullptr) {
    if (args->kind != K::Tuple) fail("call arguments must be a tuple, got " + args->kind_name());
    bool plain_args = how != Call::NewObjEx || (kwargs->kind == K::Dict && kwargs->entries.empty());
    if (opt_.reduce_hook && plain_args) {
      if (ValuePtr r = opt_.reduce_hook(fn, args)) return r;
    }
    if (how == Call::Reduce) {
      if (ValuePtr r = builtin_call(*fn, args)) return r;
    }
    ValuePtr obj = container(Value::object(nullptr, nullptr));
    note_child(obj, fn);
    obj->callable = std::move(fn);
    if (how == Call::NewObjEx) {
      obj->cls = "__newobj_ex__";
      args = make_seq(K::Tuple, {std::move(args), std::move(kwargs)});
    } else if (how == Call::NewObj) {
      obj->cls = "__newobj__";
    }
    note_child(obj, args);
    obj->args = std::move(args);
    return obj;
  }

  void build(ValuePtr state) {
    ValuePtr obj = top();
    if (opt_.build_hook) {
      if (ValuePtr r = opt_.build_hook(obj, state)) {
        stack_.back() = std::move(r);
        return;
      }
    }
    if (obj->kind == K::Tensor || obj->kind == K::Storage) {
      fail("BUILD on a " + obj->kind_name() + " needs a build_hook");
    }
    if (obj->kind != K::Dict && obj->kind != K::Object) fail("BUILD applied to a " + obj->kind_name());
    if (obj->state && obj->state->kind == K::Dict && state->kind == K::Dict && obj->state != state) {
      // A second BUILD updates __dict__ in Python; merge the same way.
      for (const auto& [k, v] : state->entries) dict_set(obj->state, k, v);
      return;
    }
    note_child(obj, state);
    obj->state = std::move(state);
  }

  // ---- memo ----
  void memo_put(uint64_t idx) { memo_[idx] = top(); }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo key " + std::to_string(idx) + " was never stored");
    push(it->second);
  }
  uint64_t decimal_index(std::string_view t) {
    uint64_t v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size()) fail("bad memo index '" + std::string(t.substr(0, 32)) + "'");
    return v;
  }

  // ---- protocol 0 text values ----
  ValuePtr parse_decimal_int(std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r')) t.remove_suffix(1);
    bool neg = false;
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) { neg = t[0] == '-'; t.remove_prefix(1); }
    if (t.empty() || t.size() > kMaxDecimalDigits) fail("invalid or too long integer literal");
    for (char c : t) if (c < '0' || c > '9') fail("invalid integer literal '" + std::string(t.substr(0, 32)) + "'");
    return int_from_magnitude(decimal_magnitude(t), neg);
  }
  ValuePtr parse_float(std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '+')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\r')) t.remove_suffix(1);
    double v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size()) fail("invalid float literal '" + std::string(t.substr(0, 32)) + "'");
    return Value::floating(v);
  }
  // Python 2 str: text when it is UTF-8 (what torch's encoding='utf-8' gives),
  // bytes otherwise (py2 numpy buffers), instead of failing as torch would.
  static ValuePtr py2_str(std::string raw) {
    if (decode_utf8(raw, nullptr)) return Value::str(std::move(raw));
    return Value::bytes(std::move(raw));
  }
  // STRING's argument: a quoted Python 2 literal (codecs.escape_decode).
  ValuePtr parse_string_literal(std::string_view t) {
    if (t.size() < 2 || t.front() != t.back() || (t.front() != '\'' && t.front() != '"')) {
      fail("the STRING opcode argument must be quoted");
    }
    t = t.substr(1, t.size() - 2);
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
      char c = t[i];
      if (c != '\\' || i + 1 == t.size()) { out += c; continue; }
      char e = t[++i];
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': {
          auto hex = [](char h) { return h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : -1; };
          if (i + 2 >= t.size()) fail("invalid \\x escape in STRING");
          int h1 = hex(t[i + 1]), h2 = hex(t[i + 2]);
          if (h1 < 0 || h2 < 0) fail("invalid \\x escape in STRING");
          out += static_cast<char>(h1 * 16 + h2);
          i += 2;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0; k < 2 && i + 1 < t.size() && t[i + 1] >= '0' && t[i + 1] <= '7'; ++k) v = v * 8 + (t[++i] - '0');
            out += static_cast<char>(v & 0xFF);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    return py2_str(std::move(out));
  }
  // UNICODE's argument: raw-unicode-escape (only \uXXXX and \UXXXXXXXX escape).
  ValuePtr parse_raw_unicode(std::string_view t) {
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
      auto c = static_cast<unsigned char>(t[i]);
      if (c == '\\' && i + 1 < t.size() && (t[i + 1] == 'u' || t[i + 1] == 'U')) {
        size_t n = t[i + 1] == 'u' ? 4 : 8;
        if (i + 2 + n > t.size()) fail("truncated \\u escape in UNICODE");
        uint32_t cp = 0;
        for (size_t k = 0; k < n; ++k) {
          char h = t[i + 2 + k];
          int d = h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : -1;
          if (d < 0) fail("bad \\u escape in UNICODE");
          cp = cp * 16 + static_cast<uint32_t>(d);
        }
        if (cp > 0x10FFFF) fail("\\U escape out of range in UNICODE");
        append_utf8(out, cp);
        i += 1 + n;
      } else {
        append_utf8(out, c);
      }
    }
    return Value::str(std::move(out));
  }

  ValuePtr persistent(ValuePtr pid) {
    if (!opt_.persistent_load) fail("persistent id but no persistent_load");
    ValuePtr v = opt_.persistent_load(pid);
    if (!v) fail("persistent_load returned nothing for " + repr(pid, 3));
    return v;
  }

  // ---- the machine ----
  ValuePtr loop() {
    while (pos_ < d_.size()) {
      op_ = pos_;
      auto op = static_cast<unsigned char>(d_[pos_++]);
      switch (op) {
        case 0x80: {  // PROTO
          proto_ = static_cast<int>(le(1, "PROTO"));
          if (proto_ > 5) fail("unsupported pickle protocol " + std::to_string(proto_));
          break;
        }
        case 0x95: {  // FRAME: a buffering hint; only its length needs checking
          uint64_t n = le(8, "FRAME");
          if (n > d_.size() - pos_) fail("FRAME declares " + std::to_string(n) + " bytes but only " + std::to_string(d_.size() - pos_) + " remain");
          break;
        }
        case '.': {  // STOP
          ValuePtr r = pop();
          if (!opt_.allow_trailing_data && pos_ != d_.size()) {
            fail(std::to_string(d_.size() - pos_) + " bytes after STOP");
          }
          return r;
        }
        case '(':  // MARK
          if (marks_.size() >= opt_.max_depth) fail("nesting too deep (more than " + std::to_string(opt_.max_depth) + " MARKs)");
          marks_.push_back(stack_.size());
          break;
        case '0':  // POP
          if (stack_.size() > fence()) stack_.pop_back();
          else pop_mark();
          break;
        case '1': pop_mark(); break;  // POP_MARK
        case '2': push(top()); break;  // DUP

        case 'N': push(Value::none()); break;
        case 0x88: push(Value::boolean(true)); break;
        case 0x89: push(Value::boolean(false)); break;
        case 'I': {  // INT (protocol 0; "00"/"01" are Python 2's bools)
          auto t = line("INT");
          if (t == "00") push(Value::boolean(false));
          else if (t == "01") push(Value::boolean(true));
          else push(parse_decimal_int(t));
          break;
        }
        case 'L': {  // LONG (protocol 0, optional trailing L)
          auto t = line("LONG");
          if (!t.empty() && t.back() == 'L') t.remove_suffix(1);
          push(parse_decimal_int(t));
          break;
        }
        case 'J': push(Value::integer(static_cast<int32_t>(static_cast<uint32_t>(le(4, "BININT"))))); break;
        case 'K': push(Value::integer(static_cast<int64_t>(le(1, "BININT1")))); break;
        case 'M': push(Value::integer(static_cast<int64_t>(le(2, "BININT2")))); break;
        case 0x8A: push(int_from_twos(sized(1, "LONG1"))); break;
        case 0x8B: {  // LONG4: signed length
          uint64_t n = le(4, "LONG4");
          if (n & 0x80000000u) fail("LONG4 with a negative length");
          pos_ -= 4;
          push(int_from_twos(sized(4, "LONG4")));
          break;
        }
        case 'F': push(parse_float(line("FLOAT"))); break;
        case 'G': {  // BINFLOAT, big-endian
          auto b = take(8, "BINFLOAT");
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(b[k]);
          double v;
          std::memcpy(&v, &bits, 8);
          push(Value::floating(v));
          break;
        }

        case 'S': push(parse_string_literal(line("STRING"))); break;
        case 'T': {  // BINSTRING: signed length
          uint64_t n = le(4, "BINSTRING");
          if (n & 0x80000000u) fail("BINSTRING with a negative length");
          pos_ -= 4;
          push(py2_str(std::string(sized(4, "BINSTRING"))));
          break;
        }
        case 'U': push(py2_str(std::string(sized(1, "SHORT_BINSTRING")))); break;
        case 'V': push(parse_raw_unicode(line("UNICODE"))); break;
        case 'X': push(Value::str(std::string(sized(4, "BINUNICODE")))); break;
        case 0x8C: push(Value::str(std::string(sized(1, "SHORT_BINUNICODE")))); break;
        case 0x8D: push(Value::str(std::string(sized(8, "BINUNICODE8")))); break;
        case 'B': push(Value::bytes(std::string(sized(4, "BINBYTES")))); break;
        case 'C': push(Value::bytes(std::string(sized(1, "SHORT_BINBYTES")))); break;
        case 0x8E: push(Value::bytes(std::string(sized(8, "BINBYTES8")))); break;
        case 0x96: {  // BYTEARRAY8
          ValuePtr b = Value::bytes(std::string(sized(8, "BYTEARRAY8")));
          b->cls = "builtins.bytearray";
          push(std::move(b));
          break;
        }
        case 0x97: fail("out-of-band buffer (NEXT_BUFFER) but no buffers were given");
        case 0x98: top(); break;  // READONLY_BUFFER: no-op for inert values

        case ')': push(container(Value::tuple())); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1/2/3
          size_t n = op - 0x84u;
          if (stack_.size() < fence() + n) fail("stack underflow");
          std::vector<ValuePtr> items(std::make_move_iterator(stack_.end() - static_cast<std::ptrdiff_t>(n)),
                                      std::make_move_iterator(stack_.end()));
          stack_.resize(stack_.size() - n);
          push(make_seq(K::Tuple, std::move(items)));
          break;
        }
        case 't': push(make_seq(K::Tuple, pop_mark())); break;
        case ']': push(container(Value::list())); break;
        case 'l': push(make_seq(K::List, pop_mark())); break;
        case 'a': {  // APPEND
          ValuePtr v = pop();
          std::vector<ValuePtr> one{std::move(v)};
          append_items(top(), one, "APPEND");
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_mark();
          append_items(top(), items, "APPENDS");
          break;
        }
        case '}': push(container(Value::dict())); break;
        case 'd': {  // DICT
          auto kv = pop_mark();
          ValuePtr d = container(Value::dict());
          set_items(d, kv, "DICT");
          push(std::move(d));
          break;
        }
        case 's': {  // SETITEM
          ValuePtr v = pop();
          ValuePtr k = pop();
          std::vector<ValuePtr> kv{std::move(k), std::move(v)};
          set_items(top(), kv, "SETITEM");
          break;
        }
        case 'u': {  // SETITEMS
          auto kv = pop_mark();
          set_items(top(), kv, "SETITEMS");
          break;
        }
        case 0x8F: push(make_seq(K::List, {}, "builtins.set")); break;  // EMPTY_SET
        case 0x90: {  // ADDITEMS
          auto items = pop_mark();
          const ValuePtr& s = top();
          if (!(s->kind == K::List && s->cls == "builtins.set") && s->kind != K::Object) {
            fail("ADDITEMS applied to a " + s->kind_name());
          }
          append_items(s, items, "ADDITEMS");
          break;
        }
        case 0x91: push(make_seq(K::List, pop_mark(), "builtins.frozenset")); break;  // FROZENSET

        case 'p': memo_put(decimal_index(line("PUT"))); break;
        case 'q': memo_put(le(1, "BINPUT")); break;
        case 'r': memo_put(le(4, "LONG_BINPUT")); break;
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'g': memo_get(decimal_index(line("GET"))); break;
        case 'h': memo_get(le(1, "BINGET")); break;
        case 'j': memo_get(le(4, "LONG_BINGET")); break;

        case 'c': {  // GLOBAL
          std::string module(line("GLOBAL"));
          std::string name(line("GLOBAL"));
          push(make_global(std::move(module), std::move(name)));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          ValuePtr name = pop();
          ValuePtr module = pop();
          if (module->kind != K::Str || name->kind != K::Str) fail("STACK_GLOBAL requires str module and name");
          push(make_global(module->s, name->s));
          break;
        }
        case 0x82: case 0x83: case 0x84: {  // EXT1/2/4
          uint64_t code = le(op == 0x82 ? 1 : op == 0x83 ? 2 : 4, "EXT");
          fail("extension code " + std::to_string(code) + " is not registered (copyreg extension registry is empty)");
        }
        case 'R': {  // REDUCE
          ValuePtr args = pop();
          ValuePtr fn = pop();
          push(call(std::move(fn), std::move(args), Call::Reduce));
          break;
        }
        case 0x81: {  // NEWOBJ
          ValuePtr args = pop();
          ValuePtr cls = pop();
          push(call(std::move(cls), std::move(args), Call::NewObj));
          break;
        }
        case 0x92: {  // NEWOBJ_EX
          ValuePtr kwargs = pop();
          ValuePtr args = pop();
          ValuePtr cls = pop();
          if (kwargs->kind != K::Dict) fail("NEWOBJ_EX kwargs must be a dict, got " + kwargs->kind_name());
          push(call(std::move(cls), std::move(args), Call::NewObjEx, std::move(kwargs)));
          break;
        }
        case 'i': {  // INST: class from the text, args from the mark
          std::string module(line("INST"));
          std::string name(line("INST"));
          ValuePtr cls = make_global(std::move(module), std::move(name));
          ValuePtr args = make_seq(K::Tuple, pop_mark());
          push(call(std::move(cls), std::move(args), Call::Reduce));
          break;
        }
        case 'o': {  // OBJ: class and args from the mark
          auto items = pop_mark();
          if (items.empty()) fail("OBJ without a class");
          ValuePtr cls = std::move(items.front());
          items.erase(items.begin());
          push(call(std::move(cls), make_seq(K::Tuple, std::move(items)), Call::Reduce));
          break;
        }
        case 'b': build(pop()); break;  // BUILD
        case 'P': push(persistent(Value::str(std::string(line("PERSID"))))); break;
        case 'Q': push(persistent(pop())); break;  // BINPERSID

        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unknown opcode ") + hex);
        }
      }
    }
    op_ = d_.size();
    fail("truncated: no STOP opcode");
  }
};

}  // namespace

const std::unordered_set<std::string>& default_safe_globals() {
  static const std::unordered_set<std::string> kSet = [] {
    std::unordered_set<std::string> s = {
        "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device",
        "_codecs.encode", "builtins.bytearray", "builtins.set", "builtins.complex",
        "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
        "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
        "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
        "torch._tensor._rebuild_from_type_v2",
        // numpy scalars/arrays: our choice, see the header.
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
    };
    for (const char* f : {"_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor",
                          "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                          "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage",
                          "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
                          "_rebuild_device_tensor_from_cpu_tensor"}) {
      s.insert(std::string("torch._utils.") + f);
    }
    // dtypes: _dtype_to_storage_type_map, _new_dtypes, uint1-7, int1-7.
    for (const char* d : {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8",
                          "uint8", "bool", "complex64", "complex128", "quint8", "qint8", "qint32",
                          "quint4x2", "quint2x4", "uint16", "uint32", "uint64", "float8_e5m2",
                          "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu",
                          "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
                          "complex32"}) {
      s.insert(std::string("torch.") + d);
    }
    for (int k = 1; k <= 7; ++k) {
      s.insert("torch.uint" + std::to_string(k));
      s.insert("torch.int" + std::to_string(k));
    }
    // Legacy tensor classes (torch._tensor_classes) and storage classes.
    const char* scalar[] = {"Double", "Float", "Half", "BFloat16", "Long", "Int", "Short",
                            "Char", "Byte", "Bool", "ComplexDouble", "ComplexFloat"};
    for (const char* t : scalar) {
      s.insert(std::string("torch.") + t + "Tensor");
      s.insert(std::string("torch.cuda.") + t + "Tensor");
      s.insert(std::string("torch.sparse.") + t + "Tensor");
      s.insert(std::string("torch.cuda.sparse.") + t + "Tensor");
      s.insert(std::string("torch.") + t + "Storage");
      s.insert(std::string("torch.cuda.") + t + "Storage");
    }
    for (const char* q : {"QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"}) {
      s.insert(std::string("torch.") + q + "Storage");
    }
    return s;
  }();
  return kSet;
}

bool blocked_global(const std::string& full_name) {
  const std::string root = full_name.substr(0, full_name.find('.'));
  return root == "sys" || root == "os" || root == "posix" || root == "nt";
}

ValuePtr unpickle(std::string_view bytes, const UnpickleOptions& opt, size_t* consumed) {
  Unpickler u(bytes, opt);
  ValuePtr v = u.run();
  if (consumed) *consumed = u.consumed();
  return v;
}

}  // namespace torchless::io
