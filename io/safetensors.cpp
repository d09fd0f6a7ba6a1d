// Hugging Face safetensors reader/writer. See io/safetensors.h for the format,
// the checks made on hostile input and the layout written.
#include "io/safetensors.h"

#include "io/bool_bytes.h"

#include "io/utf8.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "io/checked_file.h"

namespace torchless::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swapping");

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // like the reference's 100 MB limit
constexpr int kMaxDepth = 64;
constexpr size_t kMaxRank = 1024;

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw std::runtime_error(file + ": " + msg);
}

// A name for error messages: quoted, and cut short if a hostile file made it huge.
std::string quoted(std::string_view s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return "'" + std::string(s) + "'";
  return "'" + std::string(s.substr(0, kMax)) + "...' (" + std::to_string(s.size()) + " bytes)";
}

std::string offsets_str(uint64_t b, uint64_t e) {
  std::string out = "[";
  out += std::to_string(b);
  out += ", ";
  out += std::to_string(e);
  out += ']';
  return out;
}

std::string u64_shape_str(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

struct CodeEntry {
  std::string_view code;
  DType dtype;
};
constexpr CodeEntry kCodes[] = {
    {"F64", DType::Float64},         {"F32", DType::Float32},      {"F16", DType::Float16},
    {"BF16", DType::BFloat16},       {"I64", DType::Int64},        {"I32", DType::Int32},
    {"I16", DType::Int16},           {"I8", DType::Int8},          {"U8", DType::UInt8},
    {"BOOL", DType::Bool},           {"C64", DType::Complex64},    {"F8_E4M3", DType::Float8_e4m3fn},
    {"F8_E5M2", DType::Float8_e5m2}, {"U16", DType::UInt16},      {"U32", DType::UInt32},
    {"U64", DType::UInt64},
};

bool dtype_from_code(std::string_view code, DType& out) {
  for (const auto& c : kCodes)
    if (c.code == code) {
      out = c.dtype;
      return true;
    }
  return false;
}

// Returns the length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_seq_len(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;  // overlong / too big
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                                            // surrogates
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_seq_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// ---- header model ----

struct Entry {
  std::string name;
  std::string code;
  DType dtype = DType::Float32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;
  Shape sizes;
  uint64_t nbytes = 0;
};

struct Header {
  std::vector<Entry> entries;
  std::vector<std::pair<std::string, std::string>> metadata;
  size_t data_start = 0;  // offset of the data section in the file
  size_t data_len = 0;
};

// A strict recursive-descent parser for exactly the JSON a safetensors header holds.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  void parse(Header& h) {
    expect('{');
    std::unordered_set<std::string> names;
    bool have_metadata = false;
    if (!consume('}')) {
      for (;;) {
        std::string key = string();
        expect(':');
        if (key == "__metadata__") {
          if (have_metadata) fail(file_, "header has '__metadata__' twice");
          have_metadata = true;
          metadata(h.metadata);
        } else {
          if (!names.insert(key).second) fail(file_, "tensor " + quoted(key) + " appears twice in the header");
          Entry e;
          e.name = std::move(key);
          entry(e);
          h.entries.push_back(std::move(e));
        }
        if (consume(',')) continue;
        expect('}');
        break;
      }
    }
    ws();
    if (i_ != s_.size()) error("trailing characters after the header object");
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(file_, "malformed header JSON at byte " + std::to_string(i_) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool consume(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) error(i_ < s_.size() ? std::string("expected '") + c + "'" : std::string("unexpected end"));
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) error("unexpected end");
    return s_[i_];
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) error("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else error("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string string() {
    if (peek() != '"') error("expected a string");
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) error("unterminated string");
      const auto c = static_cast<uint8_t>(s_[i_]);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) error("control character in string");
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size()) error("unterminated string");
        const char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) error("lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.size() - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') error("lone high surrogate in \\u escape");
              i_ += 2;
              const uint32_t lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) error("high surrogate not followed by a low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default: --i_; error("bad escape in string");
        }
        continue;
      }
      const size_t n = utf8_seq_len(s_, i_);
      if (n == 0) error("invalid UTF-8 in string");
      out.append(s_.data() + i_, n);
      i_ += n;
    }
  }

  // A non-negative JSON integer (no sign, fraction or exponent).
  uint64_t uint() {
    const char c = peek();
    if (c == '-') error("negative number");
    if (c < '0' || c > '9') error("expected a non-negative integer");
    uint64_t v = 0;
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const unsigned d = unsigned(s_[i_] - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) error("integer too large");
      v = v * 10 + d;
      ++i_;
    }
    if (s_[start] == '0' && i_ - start > 1) error("leading zero in integer");
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) error("expected an integer, got a float");
    return v;
  }

  // Skips any JSON value (unknown fields of a tensor entry).
  void skip_value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth));
    const char c = peek();
    if (c == '{') {
      ++i_;
      if (consume('}')) return;
      for (;;) {
        string();
        expect(':');
        skip_value(depth + 1);
        if (consume(',')) continue;
        expect('}');
        return;
      }
    }
    if (c == '[') {
      ++i_;
      if (consume(']')) return;
      for (;;) {
        skip_value(depth + 1);
        if (consume(',')) continue;
        expect(']');
        return;
      }
    }
    if (c == '"') {
      string();
      return;
    }
    for (std::string_view lit : {std::string_view("true"), std::string_view("false"), std::string_view("null")}) {
      if (s_.substr(i_, lit.size()) == lit) {
        i_ += lit.size();
        return;
      }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {  // JSON number grammar
      if (s_[i_] == '-') ++i_;
      auto digits = [&] {
        const size_t st = i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
        if (i_ == st) error("bad number");
        return i_ - st;
      };
      const size_t st = i_;
      const size_t nd = digits();
      if (s_[st] == '0' && nd > 1) error("leading zero in number");
      if (i_ < s_.size() && s_[i_] == '.') {
        ++i_;
        digits();
      }
      if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
        ++i_;
        if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
        digits();
      }
      return;
    }
    error("unexpected character");
  }

  void metadata(std::vector<std::pair<std::string, std::string>>& out) {
    if (peek() != '{') error("'__metadata__' must be an object of strings");
    ++i_;
    if (consume('}')) return;
    std::unordered_set<std::string> keys;
    for (;;) {
      std::string k = string();
      expect(':');
      if (peek() != '"') fail(file_, "'__metadata__' value of " + quoted(k) + " is not a string");
      std::string v = string();
      if (!keys.insert(k).second) fail(file_, "'__metadata__' has key " + quoted(k) + " twice");
      out.emplace_back(std::move(k), std::move(v));
      if (consume(',')) continue;
      expect('}');
      return;
    }
  }

  void uint_array(std::vector<uint64_t>& out, const std::string& what) {
    if (peek() != '[') error(what + " must be an array of integers");
    ++i_;
    if (consume(']')) return;
    for (;;) {
      if (out.size() >= kMaxRank) error(what + " has more than " + std::to_string(kMaxRank) + " entries");
      out.push_back(uint());
      if (consume(',')) continue;
      expect(']');
      return;
    }
  }

  void entry(Entry& e) {
    if (peek() != '{') fail(file_, "header entry for tensor " + quoted(e.name) + " is not an object");
    ++i_;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    if (!consume('}')) {
      for (;;) {
        const std::string k = string();
        expect(':');
        auto once = [&](bool& flag) {
          if (flag) fail(file_, "tensor " + quoted(e.name) + " has field '" + k + "' twice");
          flag = true;
        };
        if (k == "dtype") {
          once(have_dtype);
          e.code = string();
        } else if (k == "shape") {
          once(have_shape);
          uint_array(e.shape, "tensor " + quoted(e.name) + " shape");
        } else if (k == "data_offsets") {
          once(have_offsets);
          std::vector<uint64_t> o;
          uint_array(o, "tensor " + quoted(e.name) + " data_offsets");
          if (o.size() != 2) fail(file_, "tensor " + quoted(e.name) + " data_offsets must hold exactly 2 integers");
          e.begin = o[0];
          e.end = o[1];
        } else {
          skip_value(3);
        }
        if (consume(',')) continue;
        expect('}');
        break;
      }
    }
    if (!have_dtype) fail(file_, "tensor " + quoted(e.name) + " has no 'dtype'");
    if (!have_shape) fail(file_, "tensor " + quoted(e.name) + " has no 'shape'");
    if (!have_offsets) fail(file_, "tensor " + quoted(e.name) + " has no 'data_offsets'");
  }

  std::string_view s_;
  const std::string& file_;
  size_t i_ = 0;
};

// Parses and validates the header of a whole file held in memory.
Header read_header(const uint8_t* data, size_t size, const std::string& file) {
  if (size < 8)
    fail(file, "file is too short (" + std::to_string(size) + " bytes) to hold a safetensors header length");
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | data[k];
  if (n > kMaxHeaderBytes)
    fail(file, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                   " bytes (not a safetensors file?)");
  if (n > size - 8)
    fail(file, "header length " + std::to_string(n) + " reaches past the end of the file (" + std::to_string(size) +
                   " bytes; truncated?)");
  Header h;
  HeaderParser(std::string_view(reinterpret_cast<const char*>(data) + 8, static_cast<size_t>(n)), file).parse(h);
  h.data_start = 8 + static_cast<size_t>(n);
  h.data_len = size - h.data_start;

  for (Entry& e : h.entries) {
    const std::string who = "tensor " + quoted(e.name);
    if (!dtype_from_code(e.code, e.dtype))
      fail(file, who + " has unsupported dtype " + quoted(e.code) +
                     " (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL C64 F8_E4M3 F8_E5M2)");
    // Element count; the product with zeros counted as ones must fit in int64
    // so that contiguous strides cannot overflow.
    int64_t numel = 1, span = 1;
    bool zero = false;
    for (uint64_t d : e.shape) {
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(span, std::max<int64_t>(static_cast<int64_t>(d), 1), &span))
        fail(file, who + " shape " + u64_shape_str(e.shape) + " has too many elements");
      if (d == 0) zero = true;
    }
    numel = zero ? 0 : span;
    const uint64_t esize = element_size(e.dtype);
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), esize, &e.nbytes))
      fail(file, who + " shape " + u64_shape_str(e.shape) + " has too many bytes");
    e.sizes.assign(e.shape.begin(), e.shape.end());
    if (e.end < e.begin) fail(file, who + " data_offsets " + offsets_str(e.begin, e.end) + " end before they begin");
    if (e.end - e.begin != e.nbytes)
      fail(file, who + " data_offsets " + offsets_str(e.begin, e.end) + " do not match shape " +
                     u64_shape_str(e.shape) + " of " + e.code + " (" + std::to_string(e.nbytes) + " bytes)");
    if (e.end > h.data_len)
      fail(file, who + " data_offsets " + offsets_str(e.begin, e.end) + " reach outside the data section (" +
                     std::to_string(h.data_len) + " bytes; truncated file?)");
  }
  // Overlaps between non-empty tensors (the reference rejects them; we also
  // tolerate gaps, see the header).
  std::vector<const Entry*> order;
  for (const Entry& e : h.entries)
    if (e.nbytes) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t k = 1; k < order.size(); ++k)
    if (order[k]->begin < order[k - 1]->end)
      fail(file, "tensors " + quoted(order[k - 1]->name) + " " + offsets_str(order[k - 1]->begin, order[k - 1]->end) +
                     " and " + quoted(order[k]->name) + " " + offsets_str(order[k]->begin, order[k]->end) +
                     " overlap");
  return h;
}

Tensor copy_tensor(const Entry& e, const uint8_t* data_section) {
  Storage st = Storage::allocate(static_cast<size_t>(e.nbytes), Device::cpu());
  if (e.nbytes) {
    std::memcpy(st.data(), data_section + e.begin, static_cast<size_t>(e.nbytes));
    if (e.dtype == DType::Bool) normalise_bools(static_cast<uint8_t*>(st.data()), static_cast<size_t>(e.nbytes));
  }
  return Tensor(std::move(st), e.dtype, e.sizes, contiguous_strides(e.sizes), 0);
}

SafetensorsFile copy_all(Header& h, const uint8_t* data) {
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  out.tensors.reserve(h.entries.size());
  for (Entry& e : h.entries) out.tensors.emplace_back(std::move(e.name), copy_tensor(e, data + h.data_start));
  return out;
}

// ---- writing ----

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

struct Planned {
  const std::string* name;
  const Tensor* tensor;
  std::string_view code;
  size_t esize;
  uint64_t nbytes;
};

// Validates everything and lays out the file; returns the padded header
// (including its 8-byte length prefix) and the tensors in data order.
std::string plan(const std::string& file, const std::vector<std::pair<std::string, Tensor>>& tensors,
                 const std::vector<std::pair<std::string, std::string>>& metadata, std::vector<Planned>& order) {
  std::unordered_set<std::string_view> seen;
  for (const auto& [name, t] : tensors) {
    const std::string who = "tensor " + quoted(name);
    if (name == "__metadata__") fail(file, "a tensor cannot be named '__metadata__'");
    if (!valid_utf8(name)) fail(file, who + " name is not valid UTF-8");
    if (!seen.insert(name).second) fail(file, who + " is given twice");
    if (!t.defined()) fail(file, who + " is undefined");
    const std::string_view code = safetensors_dtype_code(t.dtype());
    if (code.empty())
      fail(file, who + " has dtype " + std::string(dtype_name(t.dtype())) + ", which safetensors cannot store");
    order.push_back({&name, &t, code, element_size(t.dtype()), static_cast<uint64_t>(t.nbytes())});
  }
  std::unordered_set<std::string_view> keys;
  for (const auto& [k, v] : metadata) {
    if (!valid_utf8(k) || !valid_utf8(v)) fail(file, "metadata entry " + quoted(k) + " is not valid UTF-8");
    if (!keys.insert(k).second) fail(file, "metadata key " + quoted(k) + " is given twice");
  }
  // The reference's layout: largest alignment first, then by name.
  std::sort(order.begin(), order.end(), [](const Planned& a, const Planned& b) {
    if (a.esize != b.esize) return a.esize > b.esize;
    return *a.name < *b.name;
  });

  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (size_t k = 0; k < metadata.size(); ++k) {
      if (k) json += ',';
      json_string(json, metadata[k].first);
      json += ':';
      json_string(json, metadata[k].second);
    }
    json += '}';
    first = false;
  }
  uint64_t off = 0;
  for (const Planned& p : order) {
    if (!first) json += ',';
    first = false;
    json_string(json, *p.name);
    json += ":{\"dtype\":\"";
    json += p.code;
    json += "\",\"shape\":[";
    const Shape& sz = p.tensor->sizes();
    for (size_t k = 0; k < sz.size(); ++k) {
      if (k) json += ',';
      json += std::to_string(sz[k]);
    }
    json += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + p.nbytes) + "]}";
    off += p.nbytes;
  }
  json += '}';
  while (json.size() % 8) json += ' ';
  if (json.size() > kMaxHeaderBytes)
    fail(file, "header would be " + std::to_string(json.size()) + " bytes, over the 100 MB limit readers accept");
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>((n >> (8 * k)) & 0xFF);
  return out + json;
}

void write_data(ByteSink& sink, const std::vector<Planned>& order) {
  for (const Planned& p : order) {
    if (!p.nbytes) continue;
    Tensor t = *p.tensor;
    if (!t.device().is_cpu()) t = t.to(Device::cpu());
    t = t.contiguous();
    sink.write(t.raw_data(), static_cast<size_t>(p.nbytes));
  }
}

}  // namespace

std::string_view safetensors_dtype_code(DType t) {
  for (const auto& c : kCodes)
    if (c.dtype == t) return c.code;
  return {};
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  Header h = read_header(data, bytes.size(), name);
  return copy_all(h, data);
}

SafetensorsFile load_safetensors(const std::string& path, bool mmap) {
  if (!mmap) {
    const std::string bytes = read_file(path);
    return parse_safetensors(bytes, path);
  }
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  Header h = read_header(file->data(), file->size(), path);
  auto* base = const_cast<uint8_t*>(file->data() + h.data_start);
  // One Storage over the whole data section, kept alive by the mapping.
  Storage shared = Storage::wrap(base, h.data_len, Device::cpu(), std::shared_ptr<void>(file, base));
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  out.tensors.reserve(h.entries.size());
  for (Entry& e : h.entries) {
    const size_t esize = element_size(e.dtype);
    const bool aligned = e.begin % esize == 0 && reinterpret_cast<uintptr_t>(base) % esize == 0;
    const bool ok_bools = e.dtype != DType::Bool || bools_valid(base + e.begin, static_cast<size_t>(e.nbytes));
    Tensor t = aligned && ok_bools ? Tensor(shared, e.dtype, e.sizes, contiguous_strides(e.sizes),
                                            static_cast<int64_t>(e.begin / esize))
                                   : copy_tensor(e, base);
    out.tensors.emplace_back(std::move(e.name), std::move(t));
  }
  return out;
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<Planned> order;
  StringSink sink;
  sink.write(plan("safetensors", tensors, metadata, order));
  write_data(sink, order);
  return std::move(sink.str());
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::vector<Planned> order;
  const std::string header = plan(path, tensors, metadata, order);  // throws before the file is touched
  write_file_atomic(path, [&](int fd) {
    FdSink sink(fd, path);
    sink.write(header);
    write_data(sink, order);
    sink.flush();
  });
}

}  // namespace torchless::io
