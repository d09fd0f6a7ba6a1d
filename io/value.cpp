#include "io/value.h"

#include "io/utf8.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

namespace torchless::io {

namespace {

ValuePtr make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

// Pickle writes ints as minimal little-endian two's complement; keeping BigInt
// bytes minimal makes equal values compare (and re-pickle) byte-equal.
std::string normalize_twos(std::string b) {
  while (b.size() > 1) {
    auto last = static_cast<unsigned char>(b[b.size() - 1]);
    auto prev = static_cast<unsigned char>(b[b.size() - 2]);
    if ((last == 0x00 && !(prev & 0x80)) || (last == 0xFF && (prev & 0x80))) {
      b.pop_back();
    } else {
      break;
    }
  }
  return b;
}

std::string global_name(const ValuePtr& g) {
  if (!g) return "?";
  if (g->kind == Value::Kind::Global) return g->s + "." + g->name;
  return g->kind_name();
}

bool keys_equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (&a == &b) return true;
  // Python's dict treats True == 1; pickled keys mix these only by accident.
  auto intlike = [](const Value& v) { return v.kind == K::Int || v.kind == K::Bool; };
  if (intlike(a) && intlike(b)) return a.as_int() == b.as_int();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::None: return true;
    case K::Float: return a.f == b.f;
    case K::Str:
    case K::Bytes:
    case K::BigInt: return a.s == b.s;
    case K::Global: return a.s == b.s && a.name == b.name;
    case K::Tuple:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!a.items[i] || !b.items[i] || !keys_equal(*a.items[i], *b.items[i])) return false;
      }
      return true;
    default: return false;  // unhashable in Python, or identity-compared objects
  }
}

// ---- repr ----

// Python's float repr: the shortest round-trip digits, fixed notation for
// decimal exponents in [-4, 16), scientific otherwise, ".0" on integral values.
std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mant = sci.substr(0, epos);
  int exp = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out += digits + std::string(static_cast<size_t>(exp + 1) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exp + 1)) + "." + digits.substr(static_cast<size_t>(exp + 1));
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return out;
}

// Decimal text of a little-endian two's complement integer (schoolbook
// division by 10^9). Callers bound the size, so quadratic time stays small.
std::string bigint_decimal(const std::string& le) {
  if (le.empty()) return "0";
  bool neg = static_cast<unsigned char>(le.back()) & 0x80;
  std::vector<uint8_t> mag(le.begin(), le.end());
  if (neg) {  // magnitude = ~x + 1
    int carry = 1;
    for (auto& byte : mag) {
      int v = static_cast<uint8_t>(~byte) + carry;
      byte = static_cast<uint8_t>(v & 0xFF);
      carry = v >> 8;
    }
  }
  // big-endian 32-bit limbs
  std::vector<uint32_t> limbs((mag.size() + 3) / 4, 0);
  for (size_t i = 0; i < mag.size(); ++i) limbs[limbs.size() - 1 - i / 4] |= uint32_t(mag[i]) << (8 * (i % 4));
  std::string out;
  auto nonzero = [&] {
    for (auto l : limbs) if (l) return true;
    return false;
  };
  while (nonzero()) {
    uint64_t rem = 0;
    for (auto& l : limbs) {
      uint64_t cur = (rem << 32) | l;
      l = static_cast<uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    char chunk[16];
    std::snprintf(chunk, sizeof chunk, "%09u", static_cast<unsigned>(rem));
    out.insert(0, chunk);
  }
  size_t nz = out.find_first_not_of('0');
  out = nz == std::string::npos ? "0" : out.substr(nz);
  return neg ? "-" + out : out;
}

std::string hex2(unsigned char c) {
  static const char* d = "0123456789abcdef";
  return std::string("\\x") + d[c >> 4] + d[c & 15];
}

std::string str_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += hex2(c);
    else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
             static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += hex2(static_cast<unsigned char>(s[++i]));  // C1 controls print escaped in Python
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + q;
}

std::string bytes_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out = "b";
  out += q;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c >= 0x7f) out += hex2(c);
    else out += static_cast<char>(c);
  }
  return out + q;
}

// A tensor with more values than this prints as its dtype and shape.
constexpr int64_t kTensorValues = 16;

struct Repr {
  std::string out;
  // Memo sharing lets a small pickle describe an exponentially large tree,
  // and one string or tensor can be huge: the work stays O(limit), whatever
  // the value (a caller cuts the text at the limit).
  size_t limit;
  std::unordered_set<const Value*> active;  // containers being printed: cycles print as "..."

  bool full() const { return out.size() > limit; }
  void seq(const std::vector<ValuePtr>& v, int depth) {
    for (size_t i = 0; i < v.size() && !full(); ++i) {
      if (i) out += ", ";
      go(v[i], depth);
    }
  }
  void pairs(const std::vector<std::pair<ValuePtr, ValuePtr>>& e, int depth) {
    out += "{";
    for (size_t i = 0; i < e.size() && !full(); ++i) {
      if (i) out += ", ";
      go(e[i].first, depth);
      out += ": ";
      go(e[i].second, depth);
    }
    out += "}";
  }

  void go(const ValuePtr& v, int depth) {
    using K = Value::Kind;
    if (full()) return;
    if (!v) { out += "<null>"; return; }
    switch (v->kind) {
      case K::None: out += "None"; return;
      case K::Bool: out += v->b ? "True" : "False"; return;
      case K::Int: out += std::to_string(v->i); return;
      case K::BigInt:
        // Python refuses int->str beyond 4300 digits too; the digits cost
        // quadratic time, so none that could not fit are computed.
        out += v->s.size() <= 1785 && v->s.size() * 2 <= limit ? bigint_decimal(v->s)
                                   : "<int of " + std::to_string(v->s.size()) + " bytes>";
        return;
      case K::Float: out += float_repr(v->f); return;
      case K::Str: out += str_repr(utf8_prefix(v->s, limit)); return;
      case K::Bytes:
        if (v->cls.empty()) out += bytes_repr(v->s.substr(0, limit));
        else out += "bytearray(" + bytes_repr(v->s.substr(0, limit)) + ")";
        return;
      case K::Global: out += v->s + "." + v->name; return;
      case K::Storage:
        out += "<storage " + std::string(dtype_name(v->storage_dtype)) + " " +
               std::to_string(v->storage.nbytes()) + " bytes>";
        return;
      case K::Tensor:
        // to_string reads every element (an expanded tensor may have 10^10).
        if (v->tensor.defined() && v->tensor.numel() > kTensorValues)
          out += "tensor(" + std::string(dtype_name(v->tensor.dtype())) + " " + shape_str(v->tensor.sizes()) + ")";
        else
          out += v->tensor.defined() ? torchless::to_string(v->tensor) : "tensor(<undefined>)";
        return;
      default: break;
    }
    if (active.count(v.get())) {  // a cycle, printed the way Python prints one
      out += v->kind == K::List ? "[...]" : v->kind == K::Dict ? "{...}" : v->kind == K::Tuple ? "(...)" : "...";
      return;
    }
    if (depth <= 0) { out += "..."; return; }
    active.insert(v.get());
    int d = depth - 1;
    switch (v->kind) {
      case K::List:
        if (v->cls == "builtins.set" || v->cls == "builtins.frozenset") {
          bool frozen = v->cls == "builtins.frozenset";
          if (v->items.empty()) {
            out += frozen ? "frozenset()" : "set()";
          } else {
            out += frozen ? "frozenset({" : "{";
            seq(v->items, d);
            out += frozen ? "})" : "}";
          }
        } else {
          out += "[";
          seq(v->items, d);
          out += "]";
        }
        break;
      case K::Tuple:
        out += "(";
        seq(v->items, d);
        out += v->items.size() == 1 ? ",)" : ")";
        break;
      case K::Dict: {
        std::string c = v->cls;
        if (c.rfind("collections.", 0) == 0) c = c.substr(12);
        if (!c.empty()) out += c + "(";
        pairs(v->entries, d);
        if (!c.empty()) out += ")";
        break;
      }
      case K::Object: {
        if (v->callable && v->callable->kind == K::Global) out += global_name(v->callable);
        else go(v->callable, d);
        out += "(";
        if (v->args && v->args->kind == K::Tuple) seq(v->args->items, d);
        else go(v->args, d);
        out += ")";
        if (!v->items.empty()) { out += " items=["; seq(v->items, d); out += "]"; }
        if (!v->entries.empty()) { out += " entries="; pairs(v->entries, d); }
        if (v->state) { out += " state="; go(v->state, d); }
        break;
      }
      default: break;
    }
    active.erase(v.get());
  }
};

}  // namespace

// ---- construction ----

ValuePtr Value::none() { return make(Kind::None); }
ValuePtr Value::boolean(bool v) { auto p = make(Kind::Bool); p->b = v; return p; }
ValuePtr Value::integer(int64_t v) { auto p = make(Kind::Int); p->i = v; return p; }
ValuePtr Value::big_integer(std::string le) {
  auto p = make(Kind::BigInt);
  p->s = normalize_twos(std::move(le));
  return p;
}
ValuePtr Value::floating(double v) { auto p = make(Kind::Float); p->f = v; return p; }
ValuePtr Value::str(std::string v) { auto p = make(Kind::Str); p->s = std::move(v); return p; }
ValuePtr Value::bytes(std::string v) { auto p = make(Kind::Bytes); p->s = std::move(v); return p; }
ValuePtr Value::list(std::vector<ValuePtr> v) { auto p = make(Kind::List); p->items = std::move(v); return p; }
ValuePtr Value::tuple(std::vector<ValuePtr> v) { auto p = make(Kind::Tuple); p->items = std::move(v); return p; }
ValuePtr Value::dict(std::string cls) { auto p = make(Kind::Dict); p->cls = std::move(cls); return p; }
ValuePtr Value::global(std::string module, std::string name) {
  auto p = make(Kind::Global);
  p->s = std::move(module);
  p->name = std::move(name);
  return p;
}
ValuePtr Value::object(ValuePtr callable, ValuePtr args) {
  auto p = make(Kind::Object);
  p->callable = std::move(callable);
  p->args = args ? std::move(args) : Value::tuple();
  return p;
}
ValuePtr Value::from_storage(torchless::Storage s, DType dtype) {
  auto p = make(Kind::Storage);
  p->storage = std::move(s);
  p->storage_dtype = dtype;
  return p;
}
ValuePtr Value::from_tensor(torchless::Tensor t) {
  auto p = make(Kind::Tensor);
  p->tensor = std::move(t);
  return p;
}

// ---- inspection ----

bool Value::is_global(std::string_view module, std::string_view qualname) const {
  return kind == Kind::Global && s == module && name == qualname;
}

double Value::as_number() const {
  switch (kind) {
    case Kind::Int: return static_cast<double>(i);
    case Kind::Bool: return b ? 1.0 : 0.0;
    case Kind::Float: return f;
    default: throw std::runtime_error("expected a number, got " + kind_name());
  }
}

int64_t Value::as_int() const {
  if (kind == Kind::Int) return i;
  if (kind == Kind::Bool) return b ? 1 : 0;
  throw std::runtime_error("expected an int, got " + kind_name());
}

const std::string& Value::as_str() const {
  if (kind != Kind::Str) throw std::runtime_error("expected a str, got " + kind_name());
  return s;
}

std::string Value::kind_name() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int:
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return cls.empty() ? "bytes" : "bytearray";
    case Kind::List:
      if (cls == "builtins.set") return "set";
      if (cls == "builtins.frozenset") return "frozenset";
      return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return cls.empty() ? "dict" : "dict " + cls;
    case Kind::Global: return "global " + s + "." + name;
    case Kind::Object: return "object " + global_name(callable);
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

// ---- dict access ----

ValuePtr Value::get(std::string_view key) const {
  if (kind != Kind::Dict && kind != Kind::Object) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k && k->kind == Kind::Str && k->s == key) return v;
  }
  return nullptr;
}

ValuePtr Value::at(std::string_view key) const {
  if (kind != Kind::Dict && kind != Kind::Object) {
    throw std::runtime_error("expected a dict, got " + kind_name() + " (looking up '" + std::string(key) + "')");
  }
  if (auto v = get(key)) return v;
  std::string msg = "no key " + str_repr(std::string(key)) + " (keys: ";
  size_t shown = 0;
  for (const auto& [k, v] : entries) {
    if (shown) msg += ", ";
    if (shown == 20) { msg += "..."; break; }
    msg += repr(k, 1);
    ++shown;
  }
  if (!shown) msg += "none";
  throw std::out_of_range(msg + ")");
}

void Value::set(ValuePtr key, ValuePtr value) {
  if (kind != Kind::Dict && kind != Kind::Object) {
    throw std::runtime_error("cannot set a key on a " + kind_name());
  }
  if (!key) throw std::invalid_argument("Value::set: null key");
  for (auto& e : entries) {
    if (e.first && keys_equal(*e.first, *key)) {
      e.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

std::vector<std::string> Value::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries) {
    if (k && k->kind == Kind::Str) out.push_back(k->s);
  }
  return out;
}

std::string repr(const ValuePtr& v, int max_depth, size_t max_chars) {
  Repr r{"", max_chars, {}};
  r.go(v, max_depth);
  return utf8_cut(r.out, max_chars);
}

void release(ValuePtr& root) noexcept {
  if (!root) return;
  // Take every child out of every node first (the grave keeps the nodes
  // alive meanwhile), so that no destructor below has children to recurse into.
  std::vector<ValuePtr> grave{std::move(root)};
  for (size_t i = 0; i < grave.size(); ++i) {
    Value& v = *grave[i];
    auto bury = [&](ValuePtr& c) {
      if (c) grave.push_back(std::move(c));
    };
    for (auto& c : v.items) bury(c);
    v.items.clear();
    for (auto& [k, x] : v.entries) {
      bury(k);
      bury(x);
    }
    v.entries.clear();
    bury(v.callable);
    bury(v.args);
    bury(v.state);
  }
  root.reset();
}

}  // namespace torchless::io
