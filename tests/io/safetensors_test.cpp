// safetensors reader/writer: exact round trips of every dtype (incl. 0-dim and
// empty tensors), mmap zero-copy and lifetime, atomic saves, an independent
// Python reading/writing of the format (the `safetensors` package when
// importable, else struct + json by hand), and hostile inputs of every kind.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using namespace torchless;
using torchless::io::load_safetensors;
using torchless::io::parse_safetensors;
using torchless::io::save_safetensors;
using torchless::io::SafetensorsFile;

using namespace torchless::test;  // support/test_util.h

namespace {

// A safetensors file from a header JSON text and a data section.
std::string make_file(const std::string& json, const std::string& data = "") {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int k = 0; k < 8; ++k) out[k] = static_cast<char>(n >> (8 * k));
  return out + json + data;
}

// Runs a Python script, returns stdout; fails the test on a non-zero exit.
std::string run_python(const std::string& script, const TempDir& dir) {
  const std::string py = dir.file("script.py");
  write_file(py, script);
  const auto r = run_command(std::string(TORCHLESS_PYTHON) + " " + py + " 2>&1");
  EXPECT_EQ(r.rc, 0) << r.out;
  return r.out;
}

// Expects `f` to throw std::runtime_error whose message starts with `prefix`
// and contains `needle`.
template <typename F>
void expect_error(F&& f, const std::string& prefix, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one containing '" << needle << "'";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(prefix + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
  }
}

void expect_parse_error(const std::string& bytes, const std::string& needle) {
  expect_error([&] { parse_safetensors(bytes, "model.safetensors"); }, "model.safetensors", needle);
}

// A tensor of `dtype` and `shape` with deterministic, non-trivial bytes that
// are valid for the dtype (bools 0/1).
Tensor patterned(DType dtype, Shape shape, uint32_t seed) {
  const size_t n = static_cast<size_t>(shape_numel(shape)) * element_size(dtype);
  std::vector<uint8_t> b(n);
  std::mt19937 rng(seed);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  if (dtype == DType::Bool)
    for (auto& x : b) x &= 1;
  return from_blob(b.data(), shape, dtype);
}

const std::vector<DType> kAllDtypes = {DType::Float64,  DType::Float32,      DType::Float16,    DType::BFloat16,
                                       DType::Int64,    DType::Int32,        DType::Int16,      DType::Int8,
                                       DType::UInt8,    DType::Bool,         DType::Complex64,  DType::Float8_e4m3fn,
                                       DType::Float8_e5m2};

const Tensor* find(const SafetensorsFile& f, const std::string& name) {
  for (const auto& [n, t] : f.tensors)
    if (n == name) return &t;
  return nullptr;
}

// Address ranges of the mappings of `path` in this process.
}  // namespace

// ---- round trips ----

TEST(Safetensors, RoundTripEveryDtypeAndShape) {
  TempDir dir;
  const std::vector<Shape> shapes = {{2, 3}, {}, {0}, {3, 0, 2}, {5}, {1, 1, 7}};
  std::vector<std::pair<std::string, Tensor>> tensors;
  uint32_t seed = 1;
  for (DType dt : kAllDtypes)
    for (size_t s = 0; s < shapes.size(); ++s)
      tensors.emplace_back(std::string(dtype_name(dt)) + "/" + std::to_string(s), patterned(dt, shapes[s], seed++));
  const std::string path = dir.file("all.safetensors");
  save_safetensors(path, tensors, {{"format", "pt"}});

  for (bool mmap : {true, false}) {
    SafetensorsFile f = load_safetensors(path, mmap);
    ASSERT_EQ(f.tensors.size(), tensors.size());
    ASSERT_EQ(f.metadata.size(), 1u);
    EXPECT_EQ(f.metadata[0].first, "format");
    EXPECT_EQ(f.metadata[0].second, "pt");
    for (const auto& [name, t] : tensors) {
      const Tensor* got = find(f, name);
      ASSERT_NE(got, nullptr) << name;
      EXPECT_EQ(got->dtype(), t.dtype()) << name;
      EXPECT_EQ(got->shape(), t.shape()) << name;
      EXPECT_TRUE(got->is_contiguous()) << name;
      EXPECT_EQ(tensor_bytes(*got), tensor_bytes(t)) << name << " mmap=" << mmap;
    }
    // In memory too.
    SafetensorsFile g = parse_safetensors(read_file(path), "mem");
    EXPECT_EQ(g.tensors.size(), tensors.size());
  }
  // serialize_safetensors gives the very bytes save wrote.
  EXPECT_EQ(io::serialize_safetensors(tensors, {{"format", "pt"}}), read_file(path));
}

TEST(Safetensors, ExactHalfBfloatFloat8Values) {
  TempDir dir;
  const std::vector<double> vals = {0.0, -0.0, 1.0, -2.5, 0.5, 3.0, 0.125, -448.0 / 2};
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"h", from_vector(vals, {2, 4}, DType::Float16)},
      {"b", from_vector(vals, {4, 2}, DType::BFloat16)},
      {"e4", from_vector(vals, {8}, DType::Float8_e4m3fn)},
      {"e5", from_vector(vals, {2, 2, 2}, DType::Float8_e5m2)},
      {"d", from_vector({1e300, -1e-300, 3.141592653589793}, {3}, DType::Float64)},
      {"i", from_vector({-9007199254740993.0, 42}, {2}, DType::Int64)},
      {"s", scalar_tensor(7.25, DType::Float32)},
  };
  const std::string path = dir.file("v.safetensors");
  save_safetensors(path, tensors);
  SafetensorsFile f = load_safetensors(path);
  for (const auto& [name, t] : tensors) {
    const Tensor* got = find(f, name);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->to_vector(), t.to_vector()) << name;
    EXPECT_EQ(got->shape(), t.shape()) << name;
  }
  EXPECT_EQ(find(f, "h")->to_vector(), vals);
  EXPECT_EQ(find(f, "b")->to_vector(), vals);
  EXPECT_EQ(find(f, "e4")->to_vector(), vals);
  EXPECT_EQ(find(f, "s")->dim(), 0);
  EXPECT_EQ(find(f, "s")->item(), 7.25);
  EXPECT_EQ(find(f, "d")->to_vector()[0], 1e300);
}

TEST(Safetensors, LayoutOrderMetadataAndEscapes) {
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"z_u8", patterned(DType::UInt8, {3}, 1)},
      {"a_f16", patterned(DType::Float16, {3}, 2)},
      {"m_f64", patterned(DType::Float64, {1}, 3)},
      {"b_f32", patterned(DType::Float32, {2}, 4)},
      {"a_f32", patterned(DType::Float32, {2}, 5)},
      {"quote\"back\\slash\nnl\x01 \xc3\xa9 \xf0\x9f\x98\x80", patterned(DType::Int8, {1}, 6)},
  };
  const std::vector<std::pair<std::string, std::string>> meta = {{"b", "x\ty"}, {"a", "\xe2\x82\xac"}};
  const std::string bytes = io::serialize_safetensors(tensors, meta);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<uint8_t>(bytes[k]);
  EXPECT_EQ(n % 8, 0u);
  const std::string json = bytes.substr(8, n);
  EXPECT_EQ(json.rfind("{\"__metadata__\":{\"b\":\"x\\ty\",\"a\":\"\xe2\x82\xac\"},\"m_f64\":", 0), 0u) << json;
  EXPECT_NE(json.find("\\u0001"), std::string::npos);
  SafetensorsFile f = parse_safetensors(bytes, "mem");
  std::vector<std::string> names;
  for (const auto& [name, t] : f.tensors) names.push_back(name);
  // Header order = data order: element size descending, then name.
  const std::vector<std::string> want = {"m_f64", "a_f32", "b_f32", "a_f16", "quote\"back\\slash\nnl\x01 \xc3\xa9 \xf0\x9f\x98\x80",
                                         "z_u8"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(f.metadata, meta);
  for (const auto& [name, t] : tensors) EXPECT_EQ(tensor_bytes(*find(f, name)), tensor_bytes(t)) << name;
}

TEST(Safetensors, NonContiguousAndSharedStorageAreWrittenSeparately) {
  Tensor base = arange(0, 12).reshape({3, 4});
  Tensor tr = base.t();                 // non-contiguous view
  Tensor row = base.select(0, 1);       // view at an offset
  Tensor col = base.slice(1, 1, 3);     // strided view
  const std::string bytes = io::serialize_safetensors({{"base", base}, {"tr", tr}, {"row", row}, {"col", col}});
  SafetensorsFile f = parse_safetensors(bytes, "mem");
  EXPECT_EQ(find(f, "tr")->to_vector(), tr.to_vector());
  EXPECT_EQ(find(f, "tr")->shape(), (Shape{4, 3}));
  EXPECT_EQ(find(f, "row")->to_vector(), (std::vector<double>{4, 5, 6, 7}));
  EXPECT_EQ(find(f, "col")->to_vector(), col.to_vector());
  EXPECT_EQ(find(f, "base")->to_vector(), base.to_vector());
  // 12 + 12 + 4 + 6 floats of data, no aliasing.
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<uint8_t>(bytes[k]);
  EXPECT_EQ(bytes.size() - 8 - n, (12 + 12 + 4 + 6) * 4u);
}

TEST(Safetensors, SaveRejectsBadInputs) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  expect_error([&] { save_safetensors(p, {{"c", zeros({2}, DType::Complex128)}}); }, p, "tensor 'c' has dtype complex128");
  expect_error([&] { save_safetensors(p, {{"a", zeros({2})}, {"a", zeros({1})}}); }, p, "tensor 'a' is given twice");
  expect_error([&] { save_safetensors(p, {{"__metadata__", zeros({2})}}); }, p, "__metadata__");
  expect_error([&] { save_safetensors(p, {{"u", Tensor()}}); }, p, "tensor 'u' is undefined");
  expect_error([&] { save_safetensors(p, {{"\xff", zeros({1})}}); }, p, "not valid UTF-8");
  expect_error([&] { save_safetensors(p, {}, {{"k", "1"}, {"k", "2"}}); }, p, "metadata key 'k' is given twice");
  EXPECT_FALSE(fs::exists(p));
  // No tensors at all is a valid (empty) file.
  save_safetensors(p, {});
  EXPECT_EQ(read_file(p), make_file("{}      "));
  EXPECT_TRUE(load_safetensors(p).tensors.empty());
}

// ---- mmap ----

TEST(Safetensors, MmapTensorsPointIntoTheMappingAndOutliveTheFile) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"w", arange(0, 1000).reshape({10, 100})},
      {"b", arange(0, 10, 1, DType::Float64)},
      {"h", from_vector(std::vector<double>{1, 2, 3}, {3}, DType::Float16)},
      {"flags", from_vector({1, 0, 1}, {3}, DType::Bool)},
      {"empty", zeros({0, 4})},
  };
  save_safetensors(path, tensors);
  Tensor keep;
  {
    SafetensorsFile f = load_safetensors(path, /*mmap=*/true);
    const auto maps = mappings_of(path);
    ASSERT_FALSE(maps.empty()) << "file is not mapped";
    const void* sid = f.tensors[0].second.storage().id();
    for (const auto& [name, t] : f.tensors) {
      EXPECT_EQ(t.storage().id(), sid) << name << ": all tensors share one storage over the data section";
      if (t.numel() == 0) continue;
      const auto a = reinterpret_cast<uintptr_t>(t.raw_data());
      bool inside = false;
      for (auto [lo, hi] : maps) inside |= a >= lo && a + t.nbytes() <= hi;
      EXPECT_TRUE(inside) << name << " does not point into the mapping";
      EXPECT_EQ(a % element_size(t.dtype()), 0u) << name;
    }
    keep = *find(f, "w");
    EXPECT_EQ(find(f, "b")->storage_offset(), 0);  // f64 first in the data section
  }
  // The SafetensorsFile is gone; the tensor keeps the mapping alive.
  EXPECT_FALSE(mappings_of(path).empty());
  EXPECT_EQ(keep.to_vector(), arange(0, 1000).to_vector());
  EXPECT_EQ(keep.shape(), (Shape{10, 100}));
  Tensor copy = keep.clone();  // writable copy
  copy.fill_(1);
  keep = Tensor();
  EXPECT_TRUE(mappings_of(path).empty()) << "mapping leaked after the last tensor went";

  // Without mmap: nothing stays mapped and the storages are private.
  SafetensorsFile g = load_safetensors(path, /*mmap=*/false);
  EXPECT_TRUE(mappings_of(path).empty());
  EXPECT_NE(find(g, "w")->storage().id(), find(g, "b")->storage().id());
}

TEST(Safetensors, MisalignedTensorIsCopiedAndBadBoolsNormalised) {
  TempDir dir;
  const std::string path = dir.file("odd.safetensors");
  // 2 bytes of U8, then an I32 at byte 2 (not a multiple of 4), then bools with a 7.
  std::string data = "\x01\x02";
  const int32_t vals[2] = {-5, 123456789};
  data.append(reinterpret_cast<const char*>(vals), 8);
  data += std::string("\x00\x07\x01", 3);
  std::string json = R"({"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                     R"("i":{"dtype":"I32","shape":[2],"data_offsets":[2,10]},)"
                     R"("f":{"dtype":"BOOL","shape":[3],"data_offsets":[10,13]}})";
  while (json.size() % 8) json += ' ';
  write_file(path, make_file(json, data));
  for (bool mmap : {true, false}) {
    SafetensorsFile f = load_safetensors(path, mmap);
    EXPECT_EQ(find(f, "i")->to_vector(), (std::vector<double>{-5, 123456789}));
    EXPECT_EQ(find(f, "u")->to_vector(), (std::vector<double>{1, 2}));
    EXPECT_EQ(tensor_bytes(*find(f, "f")), std::string("\x00\x01\x01", 3));
    if (mmap) {
      EXPECT_NE(find(f, "i")->storage().id(), find(f, "u")->storage().id());
      EXPECT_EQ(reinterpret_cast<uintptr_t>(find(f, "i")->raw_data()) % 4, 0u);
    }
  }
}

// ---- atomic save ----

TEST(Safetensors, FailedSaveLeavesOldFileIntact) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"w", arange(0, 6).reshape({2, 3})}});
  const std::string before = read_file(path);
  expect_error(
      [&] { save_safetensors(path, {{"ok", zeros({4})}, {"cplx", zeros({2}, DType::Complex128)}}); }, path,
      "tensor 'cplx' has dtype complex128, which safetensors cannot store");
  EXPECT_EQ(read_file(path), before);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "model.safetensors") << "leftover temp file";
  }
  EXPECT_EQ(files, 1u);
  // A save into a missing directory fails cleanly too.
  EXPECT_THROW(save_safetensors(dir.file("no/such/dir.safetensors"), {{"w", zeros({1})}}), std::runtime_error);
  // A successful overwrite replaces it.
  save_safetensors(path, {{"v", ones({2})}});
  EXPECT_EQ(find(load_safetensors(path), "v")->to_vector(), (std::vector<double>{1, 1}));
}

// ---- independent truth: Python ----

TEST(Safetensors, PythonWritesReferenceLayoutWeRead) {
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  // The reference layout by hand (struct + json): sorted by alignment then
  // name, header padded with spaces to 8, __metadata__ first.
  const std::string script = R"PY(
import json, struct, sys
path = sys.argv[1] if len(sys.argv) > 1 else ")PY" + path + R"PY("
tensors = [
  ("f64", "F64", [2], struct.pack("<2d", 1.5, -2.0e-310)),
  ("i64", "I64", [1, 2], struct.pack("<2q", -(2**63), 2**62 + 7)),
  ("c64", "C64", [1], struct.pack("<2f", 3.0, -4.5)),
  ("f32", "F32", [2, 2], struct.pack("<4f", 0.1, -1.0, 65504.0, float("inf"))),
  ("i32", "I32", [], struct.pack("<i", -123456)),
  ("bf16", "BF16", [2], bytes([0x80, 0x3f, 0x20, 0xc0])),      # 1.0, -2.5
  ("f16", "F16", [3], struct.pack("<3e", 0.5, -65504.0, 2**-24)),
  ("i16", "I16", [2], struct.pack("<2h", -32768, 32767)),
  ("b", "BOOL", [3], bytes([1, 0, 1])),
  ("e4", "F8_E4M3", [2], bytes([0x38, 0xfe])),                 # 1.0, -448
  ("e5", "F8_E5M2", [2], bytes([0x3c, 0x7c])),                 # 1.0, inf
  ("empty", "F32", [0, 3], b""),
  ("i8", "I8", [2], struct.pack("<2b", -128, 127)),
  ("u8", "U8", [2], bytes([0, 255])),
]
header = {"__metadata__": {"format": "pt", "note": "caf\u00e9 \ud83d\ude00"}}
data = b""
for name, code, shape, raw in tensors:
  header[name] = {"dtype": code, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
  data += raw
h = json.dumps(header, separators=(",", ":")).encode()   # ASCII with \u escapes
h += b" " * ((8 - len(h) % 8) % 8)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
print("ok")
)PY";
  EXPECT_NE(run_python(script, dir).find("ok"), std::string::npos);
  for (bool mmap : {true, false}) {
    SafetensorsFile f = load_safetensors(path, mmap);
    ASSERT_EQ(f.tensors.size(), 14u);
    EXPECT_EQ(f.tensors[0].first, "f64");
    EXPECT_EQ(f.metadata, (std::vector<std::pair<std::string, std::string>>{
                              {"format", "pt"}, {"note", "caf\xc3\xa9 \xf0\x9f\x98\x80"}}));
    EXPECT_EQ(find(f, "f64")->to_vector(), (std::vector<double>{1.5, -2.0e-310}));
    EXPECT_EQ(find(f, "i64")->shape(), (Shape{1, 2}));
    const auto* i64 = static_cast<const int64_t*>(find(f, "i64")->raw_data());
    EXPECT_EQ(i64[0], INT64_MIN);
    EXPECT_EQ(i64[1], (int64_t{1} << 62) + 7);
    const auto* c = static_cast<const float*>(find(f, "c64")->raw_data());
    EXPECT_EQ(find(f, "c64")->dtype(), DType::Complex64);
    EXPECT_EQ(c[0], 3.0f);
    EXPECT_EQ(c[1], -4.5f);
    const auto f32 = find(f, "f32")->to_vector();
    EXPECT_EQ(f32[0], static_cast<double>(0.1f));
    EXPECT_EQ(f32[2], 65504.0);
    EXPECT_TRUE(std::isinf(f32[3]));
    EXPECT_EQ(find(f, "i32")->dim(), 0);
    EXPECT_EQ(find(f, "i32")->item(), -123456);
    EXPECT_EQ(find(f, "bf16")->to_vector(), (std::vector<double>{1.0, -2.5}));
    EXPECT_EQ(find(f, "f16")->to_vector(), (std::vector<double>{0.5, -65504.0, std::ldexp(1.0, -24)}));
    EXPECT_EQ(find(f, "i16")->to_vector(), (std::vector<double>{-32768, 32767}));
    EXPECT_EQ(find(f, "b")->to_vector(), (std::vector<double>{1, 0, 1}));
    EXPECT_EQ(find(f, "b")->dtype(), DType::Bool);
    EXPECT_EQ(find(f, "e4")->to_vector(), (std::vector<double>{1.0, -448.0}));
    EXPECT_EQ(find(f, "e4")->dtype(), DType::Float8_e4m3fn);
    const auto e5 = find(f, "e5")->to_vector();
    EXPECT_EQ(e5[0], 1.0);
    EXPECT_TRUE(std::isinf(e5[1]));
    EXPECT_EQ(find(f, "empty")->shape(), (Shape{0, 3}));
    EXPECT_EQ(find(f, "i8")->to_vector(), (std::vector<double>{-128, 127}));
    EXPECT_EQ(find(f, "u8")->to_vector(), (std::vector<double>{0, 255}));
  }
}

TEST(Safetensors, PythonReadsOursWithReferenceValidation) {
  TempDir dir;
  const std::string path = dir.file("ours.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"weight", from_vector({0.5, -1.25, 3.0, 1e-3, -7.0, 100.0}, {2, 3}, DType::Float32)},
      {"bias", from_vector({1.0, -2.0}, {2}, DType::Float64)},
      {"half", from_vector({0.5, -65504.0}, {2}, DType::Float16)},
      {"ids", from_vector({-3, 9000000000.0}, {2}, DType::Int64)},
      {"mask", from_vector({1, 0, 0, 1}, {2, 2}, DType::Bool)},
      {"scalar", scalar_tensor(-9, DType::Int32)},
      {"none", zeros({0})},
      {"t", arange(0, 6).reshape({2, 3}).t()},
  };
  save_safetensors(path, tensors, {{"format", "pt"}, {"who", "torchless \xe2\x9c\x93"}});
  // Python parses with struct/json, applies the reference's validation (keys
  // sorted by offset must tile the data section exactly, header % 8 == 0,
  // starts with '{'), and prints every value. If the real package is there,
  // it reads the file too.
  const std::string script = R"PY(
import json, struct
path = ")PY" + path + R"PY("
raw = open(path, "rb").read()
n, = struct.unpack("<Q", raw[:8])
assert n % 8 == 0 and raw[8:9] == b"{", n
hdr = json.loads(raw[8:8+n].decode("utf-8"))
data = raw[8+n:]
meta = hdr.pop("__metadata__")
assert list(json.loads(raw[8:8+n]).keys())[0] == "__metadata__"
print("META", json.dumps(meta, sort_keys=True, ensure_ascii=True))
pos = 0
for name, info in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"]):
  b, e = info["data_offsets"]
  assert b == pos and e >= b, (name, b, e, pos)
  pos = e
assert pos == len(data), (pos, len(data))
fmt = {"F32": "f", "F64": "d", "F16": "e", "I64": "q", "I32": "i", "BOOL": "?"}
for name in sorted(hdr):
  info = hdr[name]
  b, e = info["data_offsets"]
  f = fmt[info["dtype"]]
  vals = struct.unpack("<%d%s" % ((e - b) // struct.calcsize(f), f), data[b:e])
  print(name, info["dtype"], info["shape"], " ".join(repr(float(v)) for v in vals))
try:
  from safetensors import safe_open
  with safe_open(path, framework="numpy") as sf:
    assert sorted(sf.keys()) == sorted(hdr), sf.keys()
  print("REFERENCE OK")
except ImportError:
  pass
)PY";
  const std::string out = run_python(script, dir);
  EXPECT_NE(out.find("META {\"format\": \"pt\", \"who\": \"torchless \\u2713\"}"), std::string::npos) << out;
  EXPECT_NE(out.find("bias F64 [2] 1.0 -2.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("half F16 [2] 0.5 -65504.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ids I64 [2] -3.0 9000000000.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mask BOOL [2, 2] 1.0 0.0 0.0 1.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("none F32 [0] \n"), std::string::npos) << out;
  EXPECT_NE(out.find("scalar I32 [] -9.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t F32 [3, 2] 0.0 3.0 1.0 4.0 2.0 5.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("weight F32 [2, 3] 0.5 -1.25 3.0 0.0010000000474974513 -7.0 100.0\n"), std::string::npos)
      << out;
  if (python_can_import("safetensors")) {
    EXPECT_NE(out.find("REFERENCE OK"), std::string::npos) << out;
  }
}

// ---- hostile input ----

TEST(Safetensors, HostileHeaders) {
  const std::string F32_6 = std::string(24, '\0');
  auto one = [](const std::string& entry) { return "{\"w\":" + entry + "}"; };
  // Framing.
  expect_parse_error("", "too short (0 bytes)");
  expect_parse_error(std::string("\x08\0\0\0", 4), "too short (4 bytes)");
  expect_parse_error(make_file("{}").substr(0, 8) + "{", "reaches past the end of the file");
  expect_parse_error(std::string("\0\0\0\0\0\0\0\x10", 8), "exceeds the limit");  // 2^60
  expect_parse_error(std::string("\x01\xe1\xf5\x05\0\0\0\0", 8), "exceeds the limit");  // 100 MB + 1
  // Offsets.
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,10]})"), F32_6),
                     "tensor 'w' data_offsets [0, 10] do not match shape [2, 3] of F32 (24 bytes)");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[24,0]})"), F32_6),
                     "data_offsets [24, 0] end before they begin");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[2,3],"data_offsets":[8,32]})"), F32_6),
                     "reach outside the data section (24 bytes");
  expect_parse_error(
      make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]})")),
      "integer too large");
  expect_parse_error(
      make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]})")), "end before");
  expect_parse_error(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                               std::string(16, 'x')),
                     "tensors 'a' [0, 16] and 'b' [8, 16] overlap");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), "1234"),
                     "data_offsets must hold exactly 2");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), "1234"),
                     "data_offsets must hold exactly 2");
  // Shapes.
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]})"), F32_6),
                     "negative number");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[2.0,3],"data_offsets":[0,24]})"), F32_6),
                     "expected an integer, got a float");
  expect_parse_error(
      make_file(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]})")),
      "has too many elements");
  expect_parse_error(
      make_file(one(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})")),
      "has too many elements");
  expect_parse_error(make_file(one(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]})")),
                     "has too many bytes");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,0]})")),
                     "has too many elements");
  expect_parse_error(make_file(one(R"({"dtype":"F32","shape":true,"data_offsets":[0,0]})")),
                     "shape must be an array");
  {
    std::string big = "[";
    for (int k = 0; k < 2000; ++k) big += k ? ",1" : "1";
    expect_parse_error(make_file(one(R"({"dtype":"F32","shape":)" + big + R"(],"data_offsets":[0,4]})"), "1234"),
                       "more than 1024 entries");
  }
  // Dtypes.
  expect_parse_error(make_file(one(R"({"dtype":"F6_E3M2","shape":[1],"data_offsets":[0,1]})"), "1"),
                     "tensor 'w' has unsupported dtype 'F6_E3M2'");
  expect_parse_error(make_file(one(R"({"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]})"), "1"),
                     "tensor 'w' has unsupported dtype 'F8_E8M0'");
  expect_parse_error(make_file(one(R"({"dtype":"U128","shape":[1],"data_offsets":[0,8]})"), "12345678"),
                     "unsupported dtype 'U128'");
  {
    // The unsigned types torch >= 2.3 has: little-endian values as written.
    const SafetensorsFile f =
        parse_safetensors(make_file(one(R"({"dtype":"U64","shape":[1],"data_offsets":[0,8]})"),
                                    std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8)),
                          "u64");
    EXPECT_EQ(f.tensors[0].second.dtype(), DType::UInt64);
    EXPECT_EQ(f.tensors[0].second.item(), 4294967295.0);
  }
  expect_parse_error(make_file(one(R"({"dtype":5,"shape":[1],"data_offsets":[0,8]})"), "12345678"),
                     "expected a string");
  // Structure.
  expect_parse_error(make_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                               R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                               "12"),
                     "tensor 'w' appears twice");
  expect_parse_error(make_file(one(R"({"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]})"), "1"),
                     "has field 'dtype' twice");
  expect_parse_error(make_file(one(R"({"shape":[1],"data_offsets":[0,1]})"), "1"), "tensor 'w' has no 'dtype'");
  expect_parse_error(make_file(one(R"({"dtype":"U8","data_offsets":[0,1]})"), "1"), "has no 'shape'");
  expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[1]})"), "1"), "has no 'data_offsets'");
  expect_parse_error(make_file(one("[1]")), "header entry for tensor 'w' is not an object");
  expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})") + "x", "1"),
                     "trailing characters");
  expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})") + "}", "1"),
                     "trailing characters");
  expect_parse_error(make_file(R"({"__metadata__":{"a":1}})"), "'__metadata__' value of 'a' is not a string");
  expect_parse_error(make_file(R"({"__metadata__":{"a":"1","a":"2"}})"), "'__metadata__' has key 'a' twice");
  expect_parse_error(make_file(R"({"__metadata__":{},"__metadata__":{}})"), "'__metadata__' twice");
  expect_parse_error(make_file(R"({"__metadata__":null})"), "must be an object of strings");
  expect_parse_error(make_file("[]"), "expected '{'");
  expect_parse_error(make_file("{"), "unexpected end");
  expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1],})"), "1"), "expected a string");
  expect_parse_error(make_file(R"({"__metadata__":{},})"), "expected a string");
  expect_parse_error(make_file("{\"a\" {}}"), "expected ':'");
  expect_parse_error(make_file("{\"a\nb\":{}}"), "control character");
  expect_parse_error(make_file("{\"a\\x\":{}}"), "bad escape");
  expect_parse_error(make_file("{\"\\ud800\":{}}"), "lone high surrogate");
  expect_parse_error(make_file("{\"\\udc00\":{}}"), "lone low surrogate");
  expect_parse_error(make_file("{\"\\ud800\\u0041\":{}}"), "not followed by a low surrogate");
  expect_parse_error(make_file("{\"\\u12\":{}}"), "bad hex digit");
  expect_parse_error(make_file("{\"\xff\":{}}"), "invalid UTF-8");
  expect_parse_error(make_file("{\"\xc0\x80\":{}}"), "invalid UTF-8");      // overlong
  expect_parse_error(make_file("{\"\xed\xa0\x80\":{}}"), "invalid UTF-8");  // encoded surrogate
  expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[01],"data_offsets":[0,1]})"), "1"), "leading zero");
  // Deep nesting in an unknown field: rejected, no stack overflow.
  {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    expect_parse_error(make_file(one(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":)" + deep + "}"), "1"),
                       "nesting deeper than 64");
  }
  // Unknown fields of any JSON type are skipped (like the reference's serde).
  {
    SafetensorsFile f = parse_safetensors(
        make_file(one(R"({"dtype":"U8","x":[true,false,null,-1.5e3,{"y":"z"}],"shape":[1],"data_offsets":[0,1]})"),
                  "A"),
        "ok");
    ASSERT_EQ(f.tensors.size(), 1u);
    EXPECT_EQ(f.tensors[0].second.to_vector(), (std::vector<double>{65}));
  }
  // Escapes decode to UTF-8; whitespace and gaps/trailing data are tolerated.
  {
    SafetensorsFile f = parse_safetensors(
        make_file(" {\n\"a\\u00e9\\ud83d\\ude00\\/\\\"\" : {\"dtype\":\"U8\",\"shape\":[ 1 ],\"data_offsets\":[2,3]} }\t ",
                  "xyZtrailing"),
        "ok");
    ASSERT_EQ(f.tensors.size(), 1u);
    EXPECT_EQ(f.tensors[0].first, "a\xc3\xa9\xf0\x9f\x98\x80/\"");
    EXPECT_EQ(f.tensors[0].second.to_vector(), (std::vector<double>{'Z'}));
  }
  // A huge hostile name is cut short in messages.
  {
    const std::string name(100000, 'n');
    try {
      parse_safetensors(make_file("{\"" + name + "\":{\"dtype\":\"X16\",\"shape\":[],\"data_offsets\":[0,2]}}", "12"),
                        "x");
      ADD_FAILURE();
    } catch (const std::runtime_error& e) {
      EXPECT_LT(std::strlen(e.what()), 500u);
    }
  }
}

TEST(Safetensors, ErrorsNameTheFileOnDisk) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_file(path, make_file(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,10]}})", std::string(10, '\0')));
  for (bool mmap : {true, false})
    expect_error([&] { load_safetensors(path, mmap); }, path,
                 "tensor 'w' data_offsets [0, 10] do not match shape [2, 3] of F32 (24 bytes)");
  expect_error([&] { load_safetensors(dir.file("missing.safetensors")); }, dir.file("missing.safetensors"), "");
  write_file(path, "");
  expect_error([&] { load_safetensors(path, true); }, path, "too short (0 bytes)");
}

TEST(Safetensors, EveryTruncationFailsCleanly) {
  TempDir dir;
  const std::string bytes = io::serialize_safetensors(
      {{"a", arange(0, 5)}, {"b", from_vector({1, 2}, {2}, DType::Int16)}, {"s", scalar_tensor(3)}},
      {{"k", "v"}});
  ASSERT_NO_THROW(parse_safetensors(bytes, "full"));
  const std::string path = dir.file("t.safetensors");
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::string cut = bytes.substr(0, len);
    EXPECT_THROW(parse_safetensors(cut, "cut"), std::runtime_error) << "length " << len;
    if (len % 7 == 0) {
      write_file(path, cut);
      EXPECT_THROW(load_safetensors(path, true), std::runtime_error) << "length " << len;
    }
  }
}

TEST(Safetensors, RandomByteFlipsNeverCrash) {
  const std::string good = io::serialize_safetensors(
      {{"weight", arange(0, 12).reshape({3, 4})},
       {"b", from_vector({1, 0}, {2}, DType::Bool)},
       {"h", from_vector({1, 2}, {2}, DType::Float16)}},
      {{"format", "pt"}});
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<uint8_t>(good[k]);
  std::mt19937 rng(20240607);
  size_t parsed = 0, failed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = rng() % (8 + n);  // the length field and the header
      if (rng() % 2) bad[pos] = static_cast<char>(bad[pos] ^ (1u << (rng() % 8)));
      else bad[pos] = "{}[]\",:0123456789-.e\\u \x80\xff"[rng() % 25];
    }
    try {
      SafetensorsFile f = parse_safetensors(bad, "flip");
      for (const auto& [name, t] : f.tensors) (void)t.to_vector();  // touch every byte
      ++parsed;
    } catch (const std::runtime_error&) {
      ++failed;
    }
  }
  EXPECT_GT(failed, 0u);
  EXPECT_GT(parsed, 0u);
}
