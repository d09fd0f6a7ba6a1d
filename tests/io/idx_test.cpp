// IDX reader: the real Fashion-MNIST files (values cross-checked against an
// independent numpy/gzip reading at test time, plus values verified once with
// Python and hard-coded), hand-made files of every type, gzipped and plain,
// and every kind of bad input.
#include "io/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>
#include "support/test_util.h"

namespace fs = std::filesystem;
using torchless::io::IdxArray;
using torchless::io::read_idx;

using namespace torchless::test;  // support/test_util.h

namespace {

using Bytes = std::vector<uint8_t>;

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

Bytes header(uint8_t type, std::vector<uint32_t> dims) {
  Bytes b = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  return b;
}

// Appends v in big-endian order.
template <class T>
void put_be(Bytes& b, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i) b.push_back(raw[sizeof(T) - 1 - i]);  // host is little-endian
}

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  ASSERT_TRUE(f.good()) << path;
}

Bytes gzip_bytes(const Bytes& b) {
  // A gzip stream in memory via deflateInit2 with the gzip wrapper.
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, b.size()) + 64);
  zs.next_in = const_cast<Bytef*>(b.data());
  zs.avail_in = uInt(b.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Runs read_idx and returns the error message ("" if it did not throw).
std::string error_of(const std::string& path) {
  try {
    read_idx(path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_IDX_ERROR(path, needle)                                        \
  do {                                                                        \
    std::string msg_ = error_of(path);                                        \
    EXPECT_NE(msg_, "") << "no error for " << (path);                         \
    EXPECT_NE(msg_.find(path), std::string::npos) << msg_;                    \
    EXPECT_NE(msg_.find(needle), std::string::npos) << "want '" << (needle)   \
                                                    << "' in: " << msg_;      \
  } while (0)

// The payload of a small file of each type, with known native values.
struct Sample {
  uint8_t type;
  size_t elem;
  Bytes body;    // big-endian payload
  Bytes native;  // expected native bytes
};

template <class T>
Sample make_sample(uint8_t type, std::vector<T> vals) {
  Sample s{type, sizeof(T), {}, {}};
  for (T v : vals) put_be(s.body, v);
  s.native.resize(vals.size() * sizeof(T));
  std::memcpy(s.native.data(), vals.data(), s.native.size());
  return s;
}

std::vector<Sample> all_samples() {
  // 6 elements each, used as dims [2,3].
  return {
      make_sample<uint8_t>(0x08, {0, 1, 127, 128, 200, 255}),
      make_sample<int8_t>(0x09, {0, -1, 127, -128, 5, -7}),
      make_sample<int16_t>(0x0B, {0, -1, 32767, -32768, 0x1234, -300}),
      make_sample<int32_t>(0x0C, {0, -1, 2147483647, -2147483647 - 1, 0x12345678, 70000}),
      make_sample<float>(0x0D, {0.f, -1.5f, 3.25f, 1e30f, -1e-30f, 65504.f}),
      make_sample<double>(0x0E, {0.0, -1.5, 3.141592653589793, 1e300, -1e-300, 2.5}),
  };
}

const std::string kDataDir = torchless::io::default_fashion_mnist_dir();

bool have_dataset() { return fs::is_directory(kDataDir); }

std::string run_python(const std::string& script) {
  const auto r = run_command(std::string(TORCHLESS_PYTHON) + " -c '" + script + "' 2>/dev/null");
  return r.rc == 0 ? r.out : "";
}

}  // namespace

// ---------------------------------------------------------------- good files

TEST(Idx, TypeSizes) {
  EXPECT_EQ(torchless::io::idx_type_size(0x08), 1u);
  EXPECT_EQ(torchless::io::idx_type_size(0x09), 1u);
  EXPECT_EQ(torchless::io::idx_type_size(0x0B), 2u);
  EXPECT_EQ(torchless::io::idx_type_size(0x0C), 4u);
  EXPECT_EQ(torchless::io::idx_type_size(0x0D), 4u);
  EXPECT_EQ(torchless::io::idx_type_size(0x0E), 8u);
  EXPECT_EQ(torchless::io::idx_type_size(0x0A), 0u);
}

TEST(Idx, EveryTypePlainAndGzipped) {
  TempDir tmp;
  for (const Sample& s : all_samples()) {
    Bytes file = header(s.type, {2, 3});
    file.insert(file.end(), s.body.begin(), s.body.end());
    for (bool gz : {false, true}) {
      std::string path = tmp.file("t" + std::to_string(s.type) + (gz ? ".idx.gz" : ".idx"));
      write_file(path, gz ? gzip_bytes(file) : file);
      IdxArray a = read_idx(path);
      SCOPED_TRACE(path);
      EXPECT_EQ(a.type, s.type);
      EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
      EXPECT_EQ(a.numel(), 6);
      EXPECT_EQ(a.data, s.native);
    }
  }
}

TEST(Idx, SpecificValuesDecoded) {
  TempDir tmp;
  Bytes f = header(0x0C, {2});
  put_be<int32_t>(f, -2);
  put_be<int32_t>(f, 0x01020304);
  write_file(tmp.file("i.idx"), f);
  IdxArray a = read_idx(tmp.file("i.idx"));
  ASSERT_EQ(a.data.size(), 8u);
  int32_t v[2];
  std::memcpy(v, a.data.data(), 8);
  EXPECT_EQ(v[0], -2);
  EXPECT_EQ(v[1], 0x01020304);
  // Raw bytes really are swapped to little-endian.
  EXPECT_EQ(a.data[4], 0x04);
  EXPECT_EQ(a.data[7], 0x01);
}

TEST(Idx, ManyDimsAndZeroSizedDim) {
  TempDir tmp;
  Bytes f = header(0x08, {1, 2, 1, 3, 1});
  for (uint8_t i = 0; i < 6; ++i) f.push_back(i);
  write_file(tmp.file("a.idx"), f);
  IdxArray a = read_idx(tmp.file("a.idx"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{1, 2, 1, 3, 1}));
  EXPECT_EQ(a.data, (Bytes{0, 1, 2, 3, 4, 5}));

  // A zero dim means zero elements, however big the others are.
  write_file(tmp.file("z.idx"), header(0x0E, {0xFFFFFFFFu, 0, 0xFFFFFFFFu}));
  IdxArray z = read_idx(tmp.file("z.idx"));
  EXPECT_EQ(z.numel(), 0);
  EXPECT_TRUE(z.data.empty());
}

TEST(Idx, ConcatenatedGzipMembers) {
  TempDir tmp;
  Bytes f = header(0x08, {4});
  f.insert(f.end(), {10, 20, 30, 40});
  Bytes a(f.begin(), f.begin() + 6), b(f.begin() + 6, f.end());
  Bytes gz = gzip_bytes(a), gz2 = gzip_bytes(b);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  write_file(tmp.file("m.gz"), gz);
  EXPECT_EQ(read_idx(tmp.file("m.gz")).data, (Bytes{10, 20, 30, 40}));
}

TEST(Idx, ParseFromMemory) {
  Bytes f = header(0x09, {3});
  f.insert(f.end(), {0xff, 1, 0x80});
  IdxArray a = torchless::io::parse_idx(f.data(), f.size(), "<mem>");
  EXPECT_EQ(a.type, 0x09);
  EXPECT_EQ(a.data, (Bytes{0xff, 1, 0x80}));
  Bytes g = gzip_bytes(f);
  EXPECT_EQ(torchless::io::parse_idx(g.data(), g.size(), "<mem>").data, a.data);
}

// ---------------------------------------------------------------- bad files

TEST(IdxErrors, MissingFile) {
  TempDir tmp;
  EXPECT_IDX_ERROR(tmp.file("nope.idx"), "cannot open");
  EXPECT_IDX_ERROR(tmp.path().string(), "not a regular file");
}

TEST(IdxErrors, EmptyAndShortHeader) {
  TempDir tmp;
  write_file(tmp.file("empty"), {});
  EXPECT_IDX_ERROR(tmp.file("empty"), "truncated header");
  write_file(tmp.file("h2"), {0, 0, 8});
  EXPECT_IDX_ERROR(tmp.file("h2"), "truncated header");
  Bytes h = header(0x08, {60000, 28, 28});
  h.resize(10);
  write_file(tmp.file("h3"), h);
  EXPECT_IDX_ERROR(tmp.file("h3"), "truncated header: expected 16 bytes, file has 10");
  write_file(tmp.file("h3.gz"), gzip_bytes(h));
  EXPECT_IDX_ERROR(tmp.file("h3.gz"), "truncated header: expected 16 bytes, file has 10");
}

TEST(IdxErrors, BadMagic) {
  TempDir tmp;
  Bytes f = header(0x08, {2});
  f.insert(f.end(), {1, 2});
  Bytes bad = f;
  bad[0] = 0x01;
  write_file(tmp.file("m1"), bad);
  EXPECT_IDX_ERROR(tmp.file("m1"), "bad magic 01 00 08 01");
  bad = f;
  bad[2] = 0x0A;  // not a type
  write_file(tmp.file("m2"), bad);
  EXPECT_IDX_ERROR(tmp.file("m2"), "unknown type 0x0a");
  write_file(tmp.file("m2.gz"), gzip_bytes(bad));
  EXPECT_IDX_ERROR(tmp.file("m2.gz"), "bad magic");
  bad = f;
  bad[3] = 0;  // zero dims
  write_file(tmp.file("m3"), bad);
  EXPECT_IDX_ERROR(tmp.file("m3"), "zero dimensions");
  Bytes text = {'h', 'e', 'l', 'l', 'o', '\n'};
  write_file(tmp.file("text.gz"), text);  // named .gz, but is not
  EXPECT_IDX_ERROR(tmp.file("text.gz"), "bad magic");
}

TEST(IdxErrors, TruncatedData) {
  TempDir tmp;
  Bytes f = header(0x08, {60000, 28, 28});
  f.resize(f.size() + 1234, 7);
  write_file(tmp.file("train-images-idx3-ubyte"), f);
  EXPECT_IDX_ERROR(tmp.file("train-images-idx3-ubyte"),
                   "truncated: expected 47040000 bytes of data, file has 1234");
  // Gzipped: the claimed size exceeds what the compressed file could hold.
  write_file(tmp.file("t.gz"), gzip_bytes(f));
  EXPECT_IDX_ERROR(tmp.file("t.gz"), "truncated: expected 47040000 bytes of data");
  // Gzipped, claim small enough to be plausible: found short after inflating.
  Bytes g = header(0x0C, {1000});
  g.resize(g.size() + 3998, 0);
  write_file(tmp.file("t2.gz"), gzip_bytes(g));
  EXPECT_IDX_ERROR(tmp.file("t2.gz"), "expected 4000 bytes of data, file has 3998");
  // Multi-byte type: last element incomplete.
  Bytes h = header(0x0E, {2});
  h.resize(h.size() + 15, 1);
  write_file(tmp.file("t3"), h);
  EXPECT_IDX_ERROR(tmp.file("t3"), "expected 16 bytes of data, file has 15");
}

TEST(IdxErrors, TrailingGarbage) {
  TempDir tmp;
  Bytes f = header(0x08, {3});
  f.insert(f.end(), {1, 2, 3, 99});
  write_file(tmp.file("g"), f);
  EXPECT_IDX_ERROR(tmp.file("g"), "trailing garbage: 1 bytes");
  write_file(tmp.file("g.gz"), gzip_bytes(f));
  EXPECT_IDX_ERROR(tmp.file("g.gz"), "trailing garbage");
  // Garbage after a valid gzip stream (in the compressed file itself).
  Bytes ok = header(0x08, {3});
  ok.insert(ok.end(), {1, 2, 3});
  Bytes gz = gzip_bytes(ok);
  gz.insert(gz.end(), {'j', 'u', 'n', 'k'});
  write_file(tmp.file("g2.gz"), gz);
  EXPECT_IDX_ERROR(tmp.file("g2.gz"), "trailing garbage: 4 bytes after the end of the gzip stream");
}

TEST(IdxErrors, GzipCorruption) {
  TempDir tmp;
  Bytes f = header(0x08, {100, 100});
  std::mt19937 rng(1);
  for (int i = 0; i < 10000; ++i) f.push_back(uint8_t(rng() % 7));
  Bytes gz = gzip_bytes(f);
  // Truncated compressed stream.
  Bytes cut(gz.begin(), gz.begin() + long(gz.size() / 2));
  write_file(tmp.file("cut.gz"), cut);
  EXPECT_IDX_ERROR(tmp.file("cut.gz"), "gzip data truncated");
  // Missing only the 8-byte trailer (CRC + size).
  Bytes notrailer(gz.begin(), gz.end() - 8);
  write_file(tmp.file("notrailer.gz"), notrailer);
  EXPECT_IDX_ERROR(tmp.file("notrailer.gz"), "gzip data truncated");
  // Bad CRC.
  Bytes crc = gz;
  crc[crc.size() - 6] ^= 0xff;
  write_file(tmp.file("crc.gz"), crc);
  EXPECT_IDX_ERROR(tmp.file("crc.gz"), "zlib: incorrect data check");
  // Corrupt gzip header (bad compression method).
  Bytes hdr = gz;
  hdr[2] = 0x07;
  write_file(tmp.file("hdr.gz"), hdr);
  EXPECT_IDX_ERROR(tmp.file("hdr.gz"), "corrupt gzip data (zlib:");
  // Garbage in the deflate data: some error must be reported, never a crash.
  for (size_t pos = 10; pos < gz.size(); pos += gz.size() / 17) {
    Bytes bad = gz;
    bad[pos] ^= 0x5a;
    std::string p = tmp.file("flip" + std::to_string(pos) + ".gz");
    write_file(p, bad);
    std::string msg = error_of(p);
    EXPECT_NE(msg, "") << "flipped byte " << pos << " not detected";
    if (!msg.empty()) {
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
    }
  }
}

TEST(IdxErrors, AbsurdDims) {
  TempDir tmp;
  // Product overflows 64 bits.
  write_file(tmp.file("ov"), header(0x0E, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  EXPECT_IDX_ERROR(tmp.file("ov"), "absurd dims [4294967295,4294967295,4294967295]");
  // Just over 2^34 bytes.
  write_file(tmp.file("big"), header(0x0C, {65536, 65537}));
  EXPECT_IDX_ERROR(tmp.file("big"), "absurd dims");
  write_file(tmp.file("big.gz"), gzip_bytes(header(0x0C, {65536, 65537})));
  EXPECT_IDX_ERROR(tmp.file("big.gz"), "absurd dims");
  // Under the cap but far more than the file holds: a clean error, no huge
  // allocation (ASan would flag an allocation this large).
  write_file(tmp.file("lie"), header(0x08, {4096, 4096, 1000}));
  EXPECT_IDX_ERROR(tmp.file("lie"), "truncated: expected 16777216000 bytes of data, file has 0");
  write_file(tmp.file("lie.gz"), gzip_bytes(header(0x08, {4096, 4096, 1000})));
  EXPECT_IDX_ERROR(tmp.file("lie.gz"), "truncated: expected 16777216000 bytes of data");
  // 255 dims of 2.
  std::vector<uint32_t> many(255, 2);
  write_file(tmp.file("many"), header(0x08, many));
  EXPECT_IDX_ERROR(tmp.file("many"), "absurd dims");
}

TEST(IdxErrors, GzipClaimingHugePayloadAllocatesLittle) {
  // A small but well-formed gzip file whose header claims ~1 GiB that it
  // might plausibly hold by ratio: zeros compress ~1000:1, so 1 MiB of
  // compressed zeros can claim ~1 GiB. We give only 64 KiB of zeros.
  TempDir tmp;
  Bytes f = header(0x08, {1u << 30});
  f.resize(f.size() + (64 << 10), 0);
  Bytes gz = gzip_bytes(f);
  // Pad with a second member of ~1 MiB of random bytes so the ratio bound
  // allows the claim; the payload is still far too short.
  std::mt19937 rng(2);
  Bytes noise(1 << 20);
  for (auto& b : noise) b = uint8_t(rng());
  Bytes gz2 = gzip_bytes(noise);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  write_file(tmp.file("claim.gz"), gz);
  EXPECT_IDX_ERROR(tmp.file("claim.gz"),
                   "expected 1073741824 bytes of data, file has " + std::to_string((64 << 10) + (1 << 20)));
}

// ---------------------------------------------------------------- MNIST split

TEST(Mnist, SplitFromHandMadeFilesPlainAndGz) {
  TempDir tmp;
  Bytes im = header(0x08, {3, 28, 28});
  for (int i = 0; i < 3 * 784; ++i) im.push_back(uint8_t(i));
  Bytes lb = header(0x08, {3});
  lb.insert(lb.end(), {9, 0, 5});
  write_file(tmp.file("t10k-images-idx3-ubyte"), im);  // plain
  write_file(tmp.file("t10k-labels-idx1-ubyte.gz"), gzip_bytes(lb));
  auto s = torchless::io::load_mnist_split(tmp.path().string(), false);
  EXPECT_EQ(s.images.dims, (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(s.labels.data, (Bytes{9, 0, 5}));
  EXPECT_EQ(s.images.data[785], uint8_t(785));

  // The train split is missing: error names the directory and the file.
  std::string msg;
  try {
    torchless::io::load_mnist_split(tmp.path().string(), true);
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing file"), std::string::npos) << msg;
  EXPECT_NE(msg.find(tmp.path().string()), std::string::npos) << msg;
}

TEST(Mnist, SplitValidation) {
  auto err = [](const fs::path& dir) {
    try {
      torchless::io::load_mnist_split(dir.string(), true);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Bytes im = header(0x08, {2, 28, 28});
  im.resize(im.size() + 2 * 784, 1);
  Bytes lb = header(0x08, {2});
  lb.insert(lb.end(), {1, 2});
  {
    TempDir tmp;  // label out of range
    Bytes bad = lb;
    bad.at(bad.size() - 1) = 10;  // .back() trips a GCC 12 -Warray-bounds false positive
    write_file(tmp.file("train-images-idx3-ubyte.gz"), gzip_bytes(im));
    write_file(tmp.file("train-labels-idx1-ubyte.gz"), gzip_bytes(bad));
    std::string m = err(tmp.path());
    EXPECT_NE(m.find("label 1 is 10"), std::string::npos) << m;
    EXPECT_NE(m.find("train-labels-idx1-ubyte.gz"), std::string::npos) << m;
  }
  {
    TempDir tmp;  // N mismatch
    Bytes three = header(0x08, {3});
    three.insert(three.end(), {1, 2, 3});
    write_file(tmp.file("train-images-idx3-ubyte.gz"), gzip_bytes(im));
    write_file(tmp.file("train-labels-idx1-ubyte.gz"), gzip_bytes(three));
    std::string m = err(tmp.path());
    EXPECT_NE(m.find("3 labels but"), std::string::npos) << m;
  }
  {
    TempDir tmp;  // wrong image shape
    Bytes im2 = header(0x08, {2, 28, 27});
    im2.resize(im2.size() + 2 * 28 * 27, 1);
    write_file(tmp.file("train-images-idx3-ubyte"), im2);
    write_file(tmp.file("train-labels-idx1-ubyte"), lb);
    std::string m = err(tmp.path());
    EXPECT_NE(m.find("[N,28,28]"), std::string::npos) << m;
    EXPECT_NE(m.find("train-images-idx3-ubyte"), std::string::npos) << m;
  }
  {
    TempDir tmp;  // wrong label type
    Bytes lb2 = header(0x0C, {2});
    put_be<int32_t>(lb2, 1);
    put_be<int32_t>(lb2, 2);
    write_file(tmp.file("train-images-idx3-ubyte"), im);
    write_file(tmp.file("train-labels-idx1-ubyte"), lb2);
    std::string m = err(tmp.path());
    EXPECT_NE(m.find("expected labels of shape [N] ubyte"), std::string::npos) << m;
  }
  {
    TempDir tmp;  // a bad file inside the split names that file
    Bytes cut(im.begin(), im.end() - 100);
    write_file(tmp.file("train-images-idx3-ubyte"), cut);
    write_file(tmp.file("train-labels-idx1-ubyte"), lb);
    std::string m = err(tmp.path());
    EXPECT_NE(m.find(tmp.file("train-images-idx3-ubyte")), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  }
  EXPECT_NE(err("/nonexistent/dir").find("does not exist"), std::string::npos);
}

// ---------------------------------------------------------------- real data

TEST(FashionMnist, DefaultDir) {
  EXPECT_EQ(torchless::io::default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
}

struct SplitStats {
  std::vector<int> first_labels;
  long long sum_image0 = 0, sum_last = 0, total = 0;
  std::vector<long long> hist;
};

SplitStats stats_of(const torchless::io::MnistSplit& s) {
  SplitStats st;
  for (int i = 0; i < 10; ++i) st.first_labels.push_back(s.labels.data[i]);
  const size_t n = s.labels.data.size();
  for (size_t i = 0; i < 784; ++i) st.sum_image0 += s.images.data[i];
  for (size_t i = 0; i < 784; ++i) st.sum_last += s.images.data[(n - 1) * 784 + i];
  for (uint8_t p : s.images.data) st.total += p;
  st.hist.assign(10, 0);
  for (uint8_t l : s.labels.data) st.hist[l]++;
  return st;
}

std::string format(const SplitStats& st) {
  std::ostringstream o;
  for (int l : st.first_labels) o << l << ",";
  o << " " << st.sum_image0 << " " << st.sum_last << " " << st.total << " ";
  for (long long h : st.hist) o << h << ",";
  return o.str();
}

class FashionMnistReal : public ::testing::TestWithParam<bool> {};

TEST_P(FashionMnistReal, ShapesAndKnownValues) {
  if (!have_dataset()) GTEST_SKIP() << kDataDir << " missing (install dataset-fashion-mnist)";
  const bool train = GetParam();
  auto t0 = std::chrono::steady_clock::now();
  auto s = torchless::io::load_mnist_split(kDataDir, train);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t n = train ? 60000 : 10000;
  EXPECT_EQ(s.images.dims, (std::vector<int64_t>{n, 28, 28}));
  EXPECT_EQ(s.labels.dims, (std::vector<int64_t>{n}));
  EXPECT_EQ(s.images.type, 0x08);
  EXPECT_EQ(s.labels.type, 0x08);
  ASSERT_EQ(s.images.data.size(), size_t(n) * 784);
  ASSERT_EQ(s.labels.data.size(), size_t(n));
  SplitStats st = stats_of(s);

  // Verified once with Python (numpy + gzip) and hard-coded.
  if (train) {
    EXPECT_EQ(st.first_labels, (std::vector<int>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
    EXPECT_EQ(st.sum_image0, 76247);
    EXPECT_EQ(st.sum_last, 16684);
    EXPECT_EQ(st.total, 3431114169LL);
    EXPECT_EQ(st.hist, std::vector<long long>(10, 6000));
    EXPECT_EQ(s.images.data[14 * 28 + 14], 217);
  } else {
    EXPECT_EQ(st.first_labels, (std::vector<int>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
    EXPECT_EQ(st.sum_image0, 33456);
    EXPECT_EQ(st.sum_last, 24390);
    EXPECT_EQ(st.total, 573469082LL);
    EXPECT_EQ(st.hist, std::vector<long long>(10, 1000));
    EXPECT_EQ(s.images.data[14 * 28 + 14], 110);
  }

  // And independently, now, with numpy reading the same files.
  const std::string p = train ? "train" : "t10k";
  std::string script =
      "import gzip, numpy as np\n"
      "d=\"" + kDataDir + "/\"\n"
      "im=np.frombuffer(gzip.open(d+\"" + p + "-images-idx3-ubyte.gz\").read(),np.uint8,offset=16).reshape(-1,784)\n"
      "lb=np.frombuffer(gzip.open(d+\"" + p + "-labels-idx1-ubyte.gz\").read(),np.uint8,offset=8)\n"
      "print(\"\".join(str(int(x))+\",\" for x in lb[:10]), int(im[0].sum()), int(im[-1].sum()),"
      " int(im.sum(dtype=np.int64)), \"\".join(str(int(x))+\",\" for x in np.bincount(lb,minlength=10)))\n";
  std::string py = run_python(script);
  if (py.empty()) {
    std::printf("note: %s with numpy not available; relied on hard-coded values\n", TORCHLESS_PYTHON);
  } else {
    while (!py.empty() && (py.back() == '\n' || py.back() == ' ')) py.pop_back();
    EXPECT_EQ(format(st), py);
  }

  // Speed belongs in benchmarks, not tests: only report it.
  std::printf("loaded %s split in %.3f s\n", p.c_str(), secs);
}

INSTANTIATE_TEST_SUITE_P(Splits, FashionMnistReal, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "train" : "t10k"; });

TEST(FashionMnistDir, TorchlessDataOverridesTheDebianFolder) {
  const char* old = std::getenv("TORCHLESS_DATA");
  const std::string saved = old ? old : "";
  ::setenv("TORCHLESS_DATA", "/somewhere/else", 1);
  EXPECT_EQ(torchless::io::default_fashion_mnist_dir(), "/somewhere/else");
  ::setenv("TORCHLESS_DATA", "", 1);  // empty: as if unset
  EXPECT_EQ(torchless::io::default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
  if (old) ::setenv("TORCHLESS_DATA", saved.c_str(), 1);
  else ::unsetenv("TORCHLESS_DATA");
}
