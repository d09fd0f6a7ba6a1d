#pragma once
// IDX files (Yann LeCun's MNIST format), plain or gzip-compressed.
//
// Layout: magic = 0x00 0x00 <type> <ndims>, then ndims big-endian u32 sizes,
// then the elements, big-endian, row-major. Types: 0x08 ubyte, 0x09 sbyte,
// 0x0B short (i16), 0x0C int (i32), 0x0D float (f32), 0x0E double (f64).
// Fashion-MNIST uses 0x08 only.
//
// read_idx() returns the elements as bytes in *native* byte order, so
// reinterpreting `data` as the element type is valid. Compression is detected
// from the content (gzip magic 1f 8b), not the file name; concatenated gzip
// members are accepted (as `gzip -d` does).
//
// Every failure throws std::runtime_error whose message starts with
// "idx: <path>: " and says what is wrong: missing/unreadable file, bad magic,
// unknown type, absurd dims (element-count overflow or more than 2^34 bytes),
// truncated data ("expected 47040016 bytes of data, file has 1234"), gzip
// corruption (with zlib's message), or trailing garbage. Sizes read from the
// file are checked against what the file can actually hold before anything is
// allocated from them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace torchless::io {

// IDX type codes.
enum IdxType : uint8_t {
  kIdxUByte = 0x08,
  kIdxSByte = 0x09,
  kIdxShort = 0x0B,
  kIdxInt = 0x0C,
  kIdxFloat = 0x0D,
  kIdxDouble = 0x0E,
};

// Bytes per element of an IDX type code; 0 if the code is not a valid type.
size_t idx_type_size(uint8_t type);

struct IdxArray {
  std::vector<int64_t> dims;   // sizes, outermost first
  uint8_t type = kIdxUByte;    // one of IdxType
  std::vector<uint8_t> data;   // numel() * idx_type_size(type) bytes, native order

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

// Reads an IDX file, gzip-compressed or not. Throws std::runtime_error.
IdxArray read_idx(const std::string& path);

// Same, for IDX data already in memory (gzip-compressed or not). `name` is
// used in error messages in place of a path.
IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name);

// One split of (Fashion-)MNIST: images [N,28,28] ubyte, labels [N] ubyte < 10.
struct MnistSplit {
  IdxArray images;
  IdxArray labels;
};

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (the .gz
// name is tried first, then the plain one, then the "images.idx3-ubyte"
// spelling). Checks shapes, types, equal N and labels < 10.
MnistSplit load_mnist_split(const std::string& dir, bool train);

/// Where the four Fashion-MNIST .gz files are by default: $TORCHLESS_DATA
/// when set and not empty, else where Debian's dataset-fashion-mnist
/// package installs them (/usr/share/datasets/fashion-mnist).
std::string default_fashion_mnist_dir();

}  // namespace torchless::io
