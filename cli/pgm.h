#pragma once
// A small PGM reader (netpbm P2 ascii and P5 binary, maxval <= 255), for
// `torchless predict`.
#include <cstdint>
#include <string>
#include <vector>

namespace torchless::cli {

struct GrayImage {
  int64_t width = 0, height = 0;
  int maxval = 255;
  std::vector<uint8_t> pixels;  ///< row-major, width*height, in [0, maxval]
};

/// A PGM header: size, maxval, and where the pixel data starts.
struct PgmHeader {
  int64_t width = 0, height = 0;
  int maxval = 255;
  bool binary = false;  ///< P5 (else P2)
  size_t data_offset = 0;
};

/// Parses and checks the header only (magic, positive size, maxval 1..255), so
/// callers can check the size before anything is allocated. Throws
/// std::runtime_error starting with `name`.
PgmHeader parse_pgm_header(const std::string& bytes, const std::string& name);
/// Parses PGM bytes; allocates only after checking that the bytes can hold
/// width*height pixels. Throws std::runtime_error starting with `name`.
GrayImage parse_pgm(const std::string& bytes, const std::string& name);
/// True if the bytes start with a PGM magic ("P2" or "P5").
bool looks_like_pgm(const std::string& bytes);
/// A P5 file's bytes for `img` (used by tests and tools).
std::string encode_pgm(const GrayImage& img);

}  // namespace torchless::cli
