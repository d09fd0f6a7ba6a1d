#include "cli/pgm.h"

#include <cctype>
#include <stdexcept>

namespace torchless::cli {

namespace {

struct Cursor {
  const std::string& b;
  const std::string& name;
  size_t i = 0;
  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(name + ": " + what); }
  void skip_space_and_comments() {
    while (i < b.size()) {
      if (b[i] == '#') {
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      } else if (std::isspace(static_cast<unsigned char>(b[i]))) {
        ++i;
      } else {
        break;
      }
    }
  }
  int64_t number(const char* what) {
    skip_space_and_comments();
    if (i >= b.size() || !std::isdigit(static_cast<unsigned char>(b[i])))
      fail(std::string("PGM: expected a number for ") + what);
    int64_t v = 0;
    while (i < b.size() && std::isdigit(static_cast<unsigned char>(b[i]))) {
      v = v * 10 + (b[i] - '0');
      if (v > 1000000000) fail(std::string("PGM: ") + what + " too large");
      ++i;
    }
    return v;
  }
};

}  // namespace

bool looks_like_pgm(const std::string& bytes) {
  return bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5');
}

PgmHeader parse_pgm_header(const std::string& bytes, const std::string& name) {
  Cursor c{bytes, name};
  if (!looks_like_pgm(bytes)) c.fail("not a PGM file (expected 'P2' or 'P5' at the start)");
  PgmHeader h;
  h.binary = bytes[1] == '5';
  c.i = 2;
  h.width = c.number("width");
  h.height = c.number("height");
  const int64_t maxval = c.number("maxval");
  if (h.width <= 0 || h.height <= 0) c.fail("PGM: empty image");
  if (maxval < 1 || maxval > 255) c.fail("PGM: maxval " + std::to_string(maxval) + " not supported (1..255 only)");
  h.maxval = static_cast<int>(maxval);
  if (h.binary) {
    if (c.i >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[c.i])))
      c.fail("PGM: missing whitespace after the header");
    ++c.i;
  }
  h.data_offset = c.i;
  return h;
}

GrayImage parse_pgm(const std::string& bytes, const std::string& name) {
  const PgmHeader h = parse_pgm_header(bytes, name);
  Cursor c{bytes, name};
  c.i = h.data_offset;
  GrayImage img;
  img.width = h.width;
  img.height = h.height;
  img.maxval = h.maxval;
  const int64_t n = img.width * img.height;  // each <= 1e9, so no overflow
  // Before anything is allocated: the pixels must fit in what follows the
  // header (one byte each in P5; a digit and a separator each in P2).
  const auto left = static_cast<int64_t>(bytes.size() - c.i);
  const int64_t room = h.binary ? left : (left + 1) / 2;
  if (n > room)
    c.fail("PGM: truncated: " + std::to_string(h.width) + "x" + std::to_string(h.height) + " = " + std::to_string(n) +
           " pixels expected, " + std::to_string(left) + " bytes present");
  img.pixels.resize(static_cast<size_t>(n));
  if (h.binary) {
    for (int64_t k = 0; k < n; ++k) {
      const auto p = static_cast<uint8_t>(bytes[c.i + static_cast<size_t>(k)]);
      if (p > h.maxval) c.fail("PGM: pixel value " + std::to_string(p) + " above maxval");
      img.pixels[static_cast<size_t>(k)] = p;
    }
  } else {
    for (int64_t k = 0; k < n; ++k) {
      const int64_t p = c.number("a pixel");
      if (p > h.maxval) c.fail("PGM: pixel value " + std::to_string(p) + " above maxval");
      img.pixels[static_cast<size_t>(k)] = static_cast<uint8_t>(p);
    }
  }
  return img;
}

std::string encode_pgm(const GrayImage& img) {
  std::string s = "P5\n" + std::to_string(img.width) + " " + std::to_string(img.height) + "\n" +
                  std::to_string(img.maxval) + "\n";
  s.append(reinterpret_cast<const char*>(img.pixels.data()), img.pixels.size());
  return s;
}

}  // namespace torchless::cli
