#pragma once
// UTF-8 encoding shared by the pickle and safetensors readers.
#include <cstddef>
#include <cstdint>
#include <string>

namespace torchless::io {

/// Appends code point `cp` as UTF-8. Lone surrogates are encoded as their
/// 3-byte form, like Python's "surrogatepass" (the caller decides whether
/// that is acceptable).
inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Length of the well-formed-looking UTF-8 sequence starting at p[i] (2-4
/// bytes: a lead byte and its continuation bytes, all within n), or 0 when
/// p[i] does not start one. Callers handle ASCII (< 0x80) themselves.
inline size_t utf8_sequence_length(const unsigned char* p, size_t i, size_t n) {
  const unsigned char c = p[i];
  const size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (!len || i + len > n) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((p[i + k] & 0xc0) != 0x80) return 0;
  return len;
}

/// At most `limit` bytes of s, not cutting a UTF-8 character in two.
inline std::string utf8_prefix(const std::string& s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

/// s itself when it fits in `limit` bytes (>= 4), else its longest prefix
/// that fits together with a closing "...", cut on a UTF-8 boundary.
inline std::string utf8_cut(const std::string& s, size_t limit) {
  return s.size() <= limit ? s : utf8_prefix(s, limit - 3) + "...";
}

}  // namespace torchless::io
