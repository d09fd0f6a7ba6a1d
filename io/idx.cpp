#include "io/idx.h"

#include <cstdlib>

#include "io/byte_order.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace torchless::io {
namespace {

// Largest payload we accept (elements * element size): 16 GiB.
constexpr uint64_t kMaxDataBytes = uint64_t{1} << 34;
// Deflate never expands more than ~1032:1; used to bound what a compressed
// file can possibly decompress to, before trusting sizes from its header.
constexpr uint64_t kMaxDeflateRatio = 1032;
// First allocation for a gzip payload; grows geometrically beyond this, so a
// tiny file that *claims* a huge payload cannot make us allocate it.
constexpr size_t kInitialGzChunk = size_t{64} << 20;

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::runtime_error("idx: " + name + ": " + what);
}

std::string hex_byte(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02x", b);
  return buf;
}

// A byte source: plain memory or a gzip stream over memory. read() fills up
// to n bytes and returns how many it produced (fewer only at the end).
class Source {
 public:
  virtual ~Source() = default;
  virtual size_t read(uint8_t* dst, size_t n) = 0;
  virtual bool compressed() const = 0;
  // Upper bound on how many bytes read() can still produce.
  virtual uint64_t max_remaining() const = 0;
};

class PlainSource final : public Source {
 public:
  PlainSource(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t read(uint8_t* dst, size_t n) override {
    size_t k = std::min(n, n_ - pos_);
    if (k) std::memcpy(dst, p_ + pos_, k);
    pos_ += k;
    return k;
  }
  bool compressed() const override { return false; }
  uint64_t max_remaining() const override { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

class GzSource final : public Source {
 public:
  GzSource(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {
    std::memset(&zs_, 0, sizeof zs_);
    int rc = inflateInit2(&zs_, 16 + MAX_WBITS);  // gzip wrapper only
    if (rc != Z_OK) fail(name_, std::string("zlib inflateInit2 failed: ") + zError(rc));
  }
  ~GzSource() override { inflateEnd(&zs_); }
  GzSource(const GzSource&) = delete;
  GzSource& operator=(const GzSource&) = delete;

  size_t read(uint8_t* dst, size_t n) override {
    size_t produced = 0;
    while (produced < n) {
      if (ended_) {
        size_t left = n_ - in_pos_;
        if (left == 0) break;
        if (left >= 2 && p_[in_pos_] == 0x1f && p_[in_pos_ + 1] == 0x8b) {
          inflateReset(&zs_);  // another gzip member follows
          ended_ = false;
        } else {
          fail(name_, "trailing garbage: " + std::to_string(left) +
                          " bytes after the end of the gzip stream");
        }
      }
      size_t in_left = n_ - in_pos_;
      size_t out_left = n - produced;
      zs_.next_in = const_cast<Bytef*>(p_ + in_pos_);
      zs_.avail_in = static_cast<uInt>(std::min<size_t>(in_left, UINT_MAX));
      zs_.next_out = dst + produced;
      zs_.avail_out = static_cast<uInt>(std::min<size_t>(out_left, UINT_MAX));
      uInt in_before = zs_.avail_in, out_before = zs_.avail_out;
      int rc = inflate(&zs_, Z_NO_FLUSH);
      in_pos_ += in_before - zs_.avail_in;
      produced += out_before - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc == Z_OK) {
        continue;
      } else if (rc == Z_BUF_ERROR && in_pos_ == n_) {
        fail(name_, "gzip data truncated: the compressed stream ends before its end marker"
                    " (zlib: unexpected end of input)");
      } else {
        std::string msg = zs_.msg ? zs_.msg : zError(rc);
        fail(name_, "corrupt gzip data (zlib: " + msg + ")");
      }
    }
    return produced;
  }
  bool compressed() const override { return true; }
  uint64_t max_remaining() const override {
    // Output still buffered in zlib's window is at most 32 KiB beyond what
    // the remaining input can expand to.
    return uint64_t(n_ - in_pos_) * kMaxDeflateRatio + (uint64_t{64} << 10);
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t in_pos_ = 0;
  std::string name_;
  z_stream zs_;
  bool ended_ = false;
};

void to_native(std::vector<uint8_t>& data, size_t elem) {
  if constexpr (std::endian::native == std::endian::big) return;  // idx is big-endian
  byteswap_elements(data.data(), data.size() / elem, elem);
}

const char* type_name(uint8_t t) {
  switch (t) {
    case kIdxUByte: return "ubyte";
    case kIdxSByte: return "sbyte";
    case kIdxShort: return "short";
    case kIdxInt: return "int";
    case kIdxFloat: return "float";
    case kIdxDouble: return "double";
    default: return "unknown";
  }
}

IdxArray parse(Source& src, const std::string& name) {
  const char* what = src.compressed() ? " (after decompression)" : "";
  uint8_t magic[4];
  size_t got = src.read(magic, 4);
  if (got < 4)
    fail(name, "truncated header: expected at least 4 bytes, file has " + std::to_string(got) + what);
  if (magic[0] != 0 || magic[1] != 0 || idx_type_size(magic[2]) == 0) {
    std::string m = hex_byte(magic[0]) + " " + hex_byte(magic[1]) + " " + hex_byte(magic[2]) + " " +
                    hex_byte(magic[3]);
    std::string why = (magic[0] != 0 || magic[1] != 0)
                          ? "expected 00 00 <type> <ndims>"
                          : "unknown type 0x" + hex_byte(magic[2]) +
                                ", expected one of 08 09 0b 0c 0d 0e";
    fail(name, "bad magic " + m + " (" + why + ")" +
                   (src.compressed() ? "" : "; not an IDX file (nor gzip-compressed)"));
  }
  IdxArray out;
  out.type = magic[2];
  const size_t ndims = magic[3];
  if (ndims == 0) fail(name, "bad magic: zero dimensions");
  std::vector<uint8_t> raw(4 * ndims);
  got = src.read(raw.data(), raw.size());
  if (got < raw.size())
    fail(name, "truncated header: expected " + std::to_string(4 + raw.size()) + " bytes, file has " +
                   std::to_string(4 + got) + what);

  const uint64_t elem = idx_type_size(out.type);
  out.dims.resize(ndims);
  bool any_zero = false;
  for (size_t i = 0; i < ndims; ++i) {
    uint32_t d = (uint32_t(raw[4 * i]) << 24) | (uint32_t(raw[4 * i + 1]) << 16) |
                 (uint32_t(raw[4 * i + 2]) << 8) | uint32_t(raw[4 * i + 3]);
    out.dims[i] = d;
    any_zero |= d == 0;
  }
  uint64_t bytes = 0;
  if (!any_zero) {
    bytes = elem;
    for (size_t i = 0; i < ndims; ++i) {
      uint64_t d = static_cast<uint64_t>(out.dims[i]);
      if (bytes > kMaxDataBytes / d) {
        std::string shape;
        for (size_t j = 0; j < ndims; ++j) shape += (j ? "," : "") + std::to_string(out.dims[j]);
        fail(name, "absurd dims [" + shape + "] of " + type_name(out.type) +
                       ": more than 2^34 bytes of data (or the element count overflows)");
      }
      bytes *= d;
    }
  }

  auto truncated = [&](uint64_t have) {
    fail(name, "truncated: expected " + std::to_string(bytes) + " bytes of data, file has " +
                   std::to_string(have) + what);
  };
  if (bytes > src.max_remaining()) {
    if (!src.compressed()) truncated(src.max_remaining());
    fail(name, "truncated: expected " + std::to_string(bytes) +
                   " bytes of data, but the rest of the compressed file can hold at most " +
                   std::to_string(src.max_remaining()));
  }

  // Read the payload. Allocation grows with the data actually produced, so
  // sizes claimed by the header are never allocated up front beyond 64 MiB
  // (plain files: the check above already matched them against the file).
  size_t want = static_cast<size_t>(bytes);
  size_t have = 0;
  size_t cap = src.compressed() ? std::min(want, kInitialGzChunk) : want;
  out.data.resize(cap);
  for (;;) {
    size_t k = src.read(out.data.data() + have, cap - have);
    have += k;
    if (have < cap) break;  // source exhausted
    if (cap == want) break;
    cap = std::min(want, cap * 2);
    out.data.resize(cap);
  }
  if (have < want) truncated(have);

  // Anything after the payload is an error. Reading on also drives inflate to
  // the end of the stream, which verifies the gzip CRC and length.
  uint8_t scratch[4096];
  size_t extra = src.read(scratch, sizeof scratch);
  if (extra > 0) {
    std::string n = std::to_string(extra);
    if (extra == sizeof scratch) n = "at least " + n;
    fail(name, "trailing garbage: " + n + " bytes after the " + std::to_string(bytes) +
                   " bytes of data" + what);
  }
  to_native(out.data, elem);
  return out;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fileno(f.get()), &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  std::vector<uint8_t> buf(static_cast<size_t>(st.st_size));
  size_t got = buf.empty() ? 0 : std::fread(buf.data(), 1, buf.size(), f.get());
  if (std::ferror(f.get())) fail(path, std::string("read error: ") + std::strerror(errno));
  buf.resize(got);  // the file may have shrunk meanwhile
  return buf;
}

}  // namespace

size_t idx_type_size(uint8_t type) {
  switch (type) {
    case kIdxUByte:
    case kIdxSByte: return 1;
    case kIdxShort: return 2;
    case kIdxInt:
    case kIdxFloat: return 4;
    case kIdxDouble: return 8;
    default: return 0;
  }
}

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
    GzSource src(bytes, size, name);
    return parse(src, name);
  }
  PlainSource src(bytes, size);
  return parse(src, name);
}

IdxArray read_idx(const std::string& path) {
  std::vector<uint8_t> buf = slurp(path);
  return parse_idx(buf.data(), buf.size(), path);
}

MnistSplit load_mnist_split(const std::string& dir, bool train) {
  namespace fs = std::filesystem;
  const std::string prefix = train ? "train" : "t10k";
  auto find = [&](const std::string& kind, const std::string& idx) {
    const std::string names[] = {
        prefix + "-" + kind + "-" + idx + "-ubyte.gz",
        prefix + "-" + kind + "-" + idx + "-ubyte",
        prefix + "-" + kind + "." + idx + "-ubyte.gz",
        prefix + "-" + kind + "." + idx + "-ubyte",
    };
    std::error_code ec;
    for (const auto& n : names) {
      fs::path p = fs::path(dir) / n;
      if (fs::exists(p, ec)) return p.string();
    }
    std::string tried;
    for (const auto& n : names) tried += (tried.empty() ? "" : ", ") + n;
    fail((fs::path(dir) / names[0]).string(),
         "missing file: none of " + tried + " exists in " + dir +
             (fs::is_directory(dir, ec) ? "" : " (the directory does not exist)"));
  };
  const std::string ipath = find("images", "idx3");
  const std::string lpath = find("labels", "idx1");

  MnistSplit s;
  s.images = read_idx(ipath);
  s.labels = read_idx(lpath);
  const auto& id = s.images.dims;
  if (s.images.type != kIdxUByte || id.size() != 3 || id[1] != 28 || id[2] != 28) {
    std::string shape;
    for (size_t j = 0; j < id.size(); ++j) shape += (j ? "," : "") + std::to_string(id[j]);
    fail(ipath, "expected images of shape [N,28,28] ubyte, got [" + shape + "] " + type_name(s.images.type));
  }
  const auto& ld = s.labels.dims;
  if (s.labels.type != kIdxUByte || ld.size() != 1) {
    std::string shape;
    for (size_t j = 0; j < ld.size(); ++j) shape += (j ? "," : "") + std::to_string(ld[j]);
    fail(lpath, "expected labels of shape [N] ubyte, got [" + shape + "] " + type_name(s.labels.type));
  }
  if (id[0] != ld[0])
    fail(lpath, std::to_string(ld[0]) + " labels but " + ipath + " has " + std::to_string(id[0]) +
                    " images");
  for (size_t i = 0; i < s.labels.data.size(); ++i)
    if (s.labels.data[i] >= 10)
      fail(lpath, "label " + std::to_string(i) + " is " + std::to_string(s.labels.data[i]) +
                      ", expected 0..9");
  return s;
}

std::string default_fashion_mnist_dir() {
  const char* env = std::getenv("TORCHLESS_DATA");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

}  // namespace torchless::io
