#include "cli/ckpt_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "io/checked_file.h"
#include "io/safetensors.h"
#include "io/utf8.h"
#include "nn/state_dict.h"

namespace torchless::cli {

std::string file_extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

bool is_safetensors_file(const std::string& path) {
  if (file_extension(path) == ".safetensors") return true;
  std::string head;
  uint64_t size = 0;
  try {
    head = io::read_head(path, 9, &size);
  } catch (const std::exception&) {
    return false;  // the load that follows says why
  }
  if (head.size() != 9 || head[8] != '{') return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(head[static_cast<size_t>(i)]);
  return n >= 2 && n <= size - 8;
}

io::Checkpoint load_any(const std::string& path, const io::LoadOptions& opt,
                        std::vector<std::pair<std::string, std::string>>* metadata) {
  if (metadata) metadata->clear();
  if (!is_safetensors_file(path)) return io::load_checkpoint(path, opt);
  io::SafetensorsFile f = io::load_safetensors(path, /*mmap=*/false);
  if (metadata) *metadata = std::move(f.metadata);
  io::Checkpoint ck;
  ck.format = "safetensors";
  ck.path = path;
  ck.root = io::Value::dict();
  for (auto& [name, t] : f.tensors) {
    Tensor tt = t;
    if (!opt.map_location.empty()) tt = tt.to(opt.map_location.resolve("cpu"));
    ck.root->set(name, io::Value::from_tensor(tt));
  }
  return ck;
}

void load_fashion_model(const std::string& path, nn::FashionClassifier& model) {
  io::LoadOptions opt;
  opt.map_location = io::MapLocation::parse("cpu");
  io::Checkpoint ck = load_any(path, opt);
  bool stripped = false;
  nn::StateDict sd = nn::model_state_dict_of(ck.root, path + ": state_dict", &stripped);
  if (stripped) std::fprintf(stderr, "note: stripped the 'module.' prefix (a DataParallel checkpoint)\n");
  try {
    nn::LoadResult r = model.load_state_dict(sd, /*strict=*/true);
    (void)r;
  } catch (const std::exception& e) {
    // load_state_dict knows the keys, not the file: a wrong model must say which file it was.
    throw std::runtime_error(naming_file(path, std::string(e.what()) + " (is this a FashionClassifier checkpoint?)"));
  }
  model.eval();
}

std::string naming_file(const std::string& path, const std::string& msg) {
  if (msg.rfind(path + ":", 0) == 0) return msg;
  return path + ": " + msg;
}

std::string printable(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  auto esc = [&](unsigned char c) { out += "\\x"; out += hex[c >> 4]; out += hex[c & 15]; };
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\r') { out += "\\r"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c < 0x20 || c == 0x7f) { esc(c); ++i; continue; }
    if (c < 0x80) { out += static_cast<char>(c); ++i; continue; }
    const size_t len = io::utf8_sequence_length(p, i, n);
    if (!len) { esc(c); ++i; continue; }
    if (c == 0xc2 && p[i + 1] < 0xa0) {  // U+0080..U+009F: C1 controls (0x9b is a CSI)
      esc(p[i + 1]);
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    char buf[8];
    if (c == '"') { out += "\\\""; ++i; continue; }
    if (c == '\\') { out += "\\\\"; ++i; continue; }
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\r') { out += "\\r"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
      continue;
    }
    if (c < 0x80) { out += static_cast<char>(c); ++i; continue; }
    // Validate a UTF-8 sequence; escape stray bytes as U+00XX.
    const size_t len = io::utf8_sequence_length(p, i, n);
    if (len) {
      out.append(s, i, len);
      i += len;
    } else {
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    }
  }
  return out + "\"";
}

std::string json_num(double x, int fixed_digits) {
  if (!std::isfinite(x)) return "null";
  char buf[40];
  if (fixed_digits >= 0) {
    std::snprintf(buf, sizeof buf, "%.*f", std::min(fixed_digits, 17), x);
    if (std::strlen(buf) < sizeof buf - 1) return buf;  // else too long for fixed: shortest form below
  }
  std::snprintf(buf, sizeof buf, "%.17g", x);
  // Shortest form that round-trips.
  for (int prec = 6; prec < 17; ++prec) {
    char b2[40];
    std::snprintf(b2, sizeof b2, "%.*g", prec, x);
    if (std::strtod(b2, nullptr) == x) return b2;
  }
  return buf;
}

}  // namespace torchless::cli
