// No recursion whose depth a file controls: nestings 200,000 deep, in every
// shape a pickle or a JSON header can build them, end in a clear error (or a
// correct result), never a stack overflow — in the unpickler, the malware
// scan, the torch loader, `verify`, `inspect` (text and JSON), and the
// safetensors header parser. Trees as deep as the readers accept (999) load,
// print and free normally; io::release frees any depth.
#include <gtest/gtest.h>

#include <string>

#include "io/checked_file.h"
#include "io/pickle_scan.h"
#include "io/safetensors.h"
#include "io/torch_load.h"
#include "io/unpickler.h"
#include "io/zip_writer.h"
#include "support/test_util.h"

namespace {

using torchless::io::Value;
using torchless::io::ValuePtr;
using torchless::test::contains;
using torchless::test::quote;
using torchless::test::run_command;
using torchless::test::TempDir;

constexpr int kDeep = 200000;

std::string binput(int i) {
  std::string s = "r";  // LONG_BINPUT
  for (int k = 0; k < 4; ++k) s += static_cast<char>((i >> (8 * k)) & 0xFF);
  return s;
}
std::string binget(int i) {
  std::string s = "j";  // LONG_BINGET
  for (int k = 0; k < 4; ++k) s += static_cast<char>((i >> (8 * k)) & 0xFF);
  return s;
}

// The shapes of deep nesting a pickle can build.
std::vector<std::pair<std::string, std::string>> deep_pickles(int n) {
  std::vector<std::pair<std::string, std::string>> out;
  out.push_back({"lists", "\x80\x02" + std::string(n, ']') + std::string(n - 1, 'a') + "."});
  out.push_back({"tuples", "\x80\x02)" + std::string(n, '\x85') + "."});
  out.push_back({"marks", "\x80\x02" + std::string(n, '(') + "."});
  std::string dicts = "\x80\x02";
  for (int i = 0; i < n; ++i) dicts += std::string("}X\x01\x00\x00\x00k", 7);  // {} 'k'
  dicts += "N";
  for (int i = 0; i < n; ++i) dicts += "s";  // SETITEM: d['k'] = inner
  out.push_back({"dicts", dicts + "."});
  // Through the memo, with a constant stack: L_i = [L_{i-1}], each popped.
  std::string chain = "\x80\x02]" + binput(0) + "0";
  for (int i = 1; i < n; ++i) chain += "]" + binget(i - 1) + "a" + binput(i) + "0";
  out.push_back({"memo chain", chain + binget(n - 1) + "."});
  // Objects whose BUILD state is the previous object, also through the memo.
  const std::string obj = "cbuiltins\nobject\n)\x81";  // GLOBAL, EMPTY_TUPLE, NEWOBJ
  std::string objs = "\x80\x02" + obj + binput(0) + "0";
  for (int i = 1; i < n; ++i) objs += obj + binget(i - 1) + "b" + binput(i) + "0";
  out.push_back({"build states", objs + binget(n - 1) + "."});
  return out;
}

std::string torch_zip(const std::string& pkl) {
  torchless::io::StringSink sink;
  torchless::io::ZipWriter zip(sink, "deep");
  zip.add("data.pkl", pkl);
  zip.add("version", "3\n");
  zip.finish();
  return sink.str();
}

TEST(DeepNesting, UnpicklerAndScanEndInAClearError) {
  for (const auto& [shape, bytes] : deep_pickles(kDeep)) {
    const std::string msg = torchless::test::message_of([&] { torchless::io::unpickle(bytes); });
    EXPECT_TRUE(contains(msg, "too deep")) << shape << ": " << msg;
    torchless::io::PickleScan scan;
    torchless::io::scan_pickle(bytes, "deep", scan);
    ASSERT_EQ(scan.problems.size(), 1u) << shape;
    EXPECT_TRUE(contains(scan.problems[0], "too deep")) << shape << ": " << scan.problems[0];
  }
}

TEST(DeepNesting, LoaderVerifyAndInspectEndInAClearError) {
  TempDir dir;
  for (const auto& [shape, bytes] : deep_pickles(kDeep)) {
    const std::string path = dir / "deep.pt";
    torchless::io::write_file_atomic(path, [&](int fd) {
      const std::string z = torch_zip(bytes);
      torchless::io::write_all(fd, z.data(), z.size(), path);
    });
    const std::string msg = torchless::test::message_of([&] { torchless::io::load(path); });
    EXPECT_TRUE(contains(msg, "too deep")) << shape << ": " << msg;
    for (const std::string cmd : {"verify", "verify --json", "inspect", "inspect --json"}) {
      auto r = run_command("timeout 60 " + quote(TORCHLESS_CLI) + " " + cmd + " " + quote(path) + " 2>&1");
      EXPECT_EQ(r.rc, 1) << shape << ", " << cmd << ": " << r.out.substr(0, 500);
      EXPECT_TRUE(contains(r.out, "too deep")) << shape << ", " << cmd << ": " << r.out.substr(0, 500);
    }
  }
}

TEST(DeepNesting, AsDeepAsAcceptedWorksEverywhere) {
  // 999 nested lists around an int: within the 1000-level bound.
  const std::string bytes = "\x80\x02" + std::string(999, ']') + "K\x07" + std::string(999, 'a') + ".";
  ValuePtr v = torchless::io::unpickle(bytes);
  int depth = 0;
  for (ValuePtr p = v; p->kind == Value::Kind::List; p = p->items.at(0)) ++depth;
  EXPECT_EQ(depth, 999);
  TempDir dir;
  const std::string path = dir / "ok.pt";
  torchless::io::write_file_atomic(path, [&](int fd) {
    const std::string z = torch_zip(bytes);
    torchless::io::write_all(fd, z.data(), z.size(), path);
  });
  for (const std::string cmd : {"verify", "inspect", "inspect --json"}) {
    auto r = run_command("timeout 60 " + quote(TORCHLESS_CLI) + " " + cmd + " " + quote(path) + " 2>&1");
    EXPECT_EQ(r.rc, 0) << cmd << ": " << r.out.substr(0, 500);
  }
  auto r = run_command(quote(TORCHLESS_CLI) + " inspect --json --depth 1000 " + quote(path) + " | " +
                       quote(torchless::test::python_path()) +
                       " -c \"import json,sys; sys.setrecursionlimit(100000); d=json.load(sys.stdin)['root']; n=0\n"
                       "while d.get('type')=='list': d=d['items'][0]; n+=1\nprint(n, d['value'])\"");
  EXPECT_EQ(r.out, "999 7\n") << r.out;
}

TEST(DeepNesting, ReleaseFreesAnyDepth) {
  // A million-deep chain built in C++ (no reader accepts one): its plain
  // destruction would recurse a million frames; release() does not.
  ValuePtr root = Value::list();
  ValuePtr p = root;
  for (int i = 0; i < 1000000; ++i) {
    p->items.push_back(Value::list());
    p = p->items.back();
  }
  p.reset();
  torchless::io::release(root);
  EXPECT_EQ(root, nullptr);
}

TEST(DeepNesting, SafetensorsHeader) {
  for (const std::string& deep : {std::string(kDeep, '[') + std::string(kDeep, ']'),
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < kDeep; ++i) s += "{\"a\":";
                                    return s + "1" + std::string(kDeep, '}');
                                  }()}) {
    std::string header = "{\"__metadata__\":{\"x\":\"y\"},\"w\":{\"dtype\":\"U8\",\"shape\":[1],"
                         "\"data_offsets\":[0,1],\"extra\":" + deep + "}}";
    std::string file(8, '\0');
    for (int k = 0; k < 8; ++k) file[k] = static_cast<char>((header.size() >> (8 * k)) & 0xFF);
    file += header + "1";
    const std::string msg = torchless::test::message_of([&] { torchless::io::parse_safetensors(file, "deep"); });
    EXPECT_TRUE(contains(msg, "nesting deeper than")) << msg.substr(0, 300);
  }
}

}  // namespace
