// The checkpoint tools (inspect, verify, convert, plot, eval, predict) on
// hostile or unusual input: shared references that make a 1 KB file an
// exponentially large tree, expanded tensors, numpy globals, safetensors
// metadata, control characters, and error messages that must name the file.
// Inputs are built here with torchless's own writers (no Python needed);
// every run that could hang or blow up runs under `timeout` (and a memory
// limit), so a regression fails instead of stalling the suite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/torch_load.h"
#include "io/torch_save.h"
#include "io/value.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
using torchless::Tensor;
using torchless::io::Value;
using torchless::io::ValuePtr;

using namespace torchless::test;  // support/test_util.h

namespace {

const std::string kCli = TORCHLESS_CLI;
const std::string kData = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11";

// `torchless ARGS` with stdout and stderr merged, stopped after `seconds`
// (rc 124) and, with `max_kib`, limited to that much virtual memory (with
// few malloc arenas: on a many-core machine each thread's arena reserves 64 MB).
CommandResult cli(const std::string& args, int seconds = 60, long max_kib = 0) {
#if defined(__SANITIZE_ADDRESS__)
  // ASan reserves terabytes of shadow address space at start-up: under a cap
  // it cannot even start. The time limit still catches a materialised tensor.
  max_kib = 0;
#endif
  std::string cmd = "timeout " + std::to_string(seconds) + " " + quote(kCli) + " " + args + " 2>&1";
  if (max_kib > 0) cmd = "ulimit -v " + std::to_string(max_kib) + "; MALLOC_ARENA_MAX=2 " + cmd;
  return run_command(cmd);
}

// [[...[t, t]...], [...]]: `levels` lists, each holding the one below twice.
ValuePtr list_bomb(int levels) {
  ValuePtr v = Value::list({Value::from_tensor(torchless::ones({2}))});
  for (int i = 0; i < levels; ++i) v = Value::list({v, v});
  return v;
}

// {'l': d, 'r': d} nested `levels` deep.
ValuePtr dict_bomb(int levels) {
  ValuePtr v = Value::dict();
  v->set("leaf", Value::from_tensor(torchless::ones({2})));
  for (int i = 0; i < levels; ++i) {
    ValuePtr up = Value::dict();
    up->set("l", v);
    up->set("r", v);
    v = up;
  }
  return v;
}

// ---------------------------------------------------------------- 1. shared references

TEST(SharedReferences, VerifyAndInspectAreLinear) {
  TempDir dir;
  const std::string lists = dir / "laughs.pt", dicts = dir / "dicts.pt";
  torchless::io::save(list_bomb(40), lists);  // 2^40 paths to the tensor
  torchless::io::save(dict_bomb(30), dicts);
  ASSERT_LT(fs::file_size(lists), 4096u);

  for (const std::string& f : {lists, dicts}) {
    CommandResult r = cli("verify " + quote(f), 20);
    EXPECT_EQ(r.rc, 0) << f << ": " << r.out;
    EXPECT_NE(r.out.find("OK: "), std::string::npos) << r.out;
    for (const std::string flags : {"", "--depth 1 ", "--depth 5 ", "--json ", "--json --depth 3 "}) {
      r = cli("inspect " + flags + quote(f), 20);
      EXPECT_EQ(r.rc, 0) << flags << f << ": " << r.out.substr(0, 2000);
      EXPECT_LT(r.out.size(), 100000u) << flags << f;  // each node printed once
      EXPECT_TRUE(contains(r.out, "total: 1 tensors, 2 elements, 8 bytes") ||
                  contains(r.out, "\"totals\":{\"tensors\":1,\"elements\":2,\"bytes\":8}"))
          << r.out.substr(0, 2000);
    }
  }
  // A shared node is printed once, then referred to by where it was printed.
  CommandResult r = cli("inspect " + quote(lists), 20);
  EXPECT_NE(r.out.find("\n  [1]: <same as root[0]>\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1]: <same as root[0][0][0]>\n"), std::string::npos) << r.out;
  r = cli("inspect --depth 2 " + quote(dicts), 20);
  EXPECT_NE(r.out.find("\n  'r': <same as root['l']>\n"), std::string::npos) << r.out;
  // Depth still cuts the walk: nothing below level 2 is expanded.
  EXPECT_EQ(r.out.find("'leaf'"), std::string::npos) << r.out;
}

TEST(SharedReferences, TiedTensorsAndJsonRefsResolve) {
  TempDir dir;
  ValuePtr w = Value::from_tensor(torchless::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}));
  ValuePtr root = Value::dict();
  root->set("embed.weight", w);
  root->set("head.weight", w);  // tied: the same object twice
  ValuePtr inner = Value::list({Value::integer(1), Value::integer(2)});
  root->set("a", Value::list({inner, inner}));
  const std::string f = dir / "tied.pt";
  torchless::io::save(root, f);

  CommandResult r = cli("inspect " + quote(f), 20);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'head.weight': <same as root['embed.weight']>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1]: <same as root['a'][0]>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 1 tensors, 4 elements, 16 bytes"), std::string::npos) << r.out;

  if (!have_python()) GTEST_SKIP() << "no python to check the JSON";
  for (const std::string& file : {f, std::string()}) {
    std::string target = file;
    if (target.empty()) {
      target = dir / "laughs.pt";
      torchless::io::save(list_bomb(20), target);
    }
    r = run_command("timeout 20 " + quote(kCli) + " inspect --json " + quote(target) + " > " +
                    quote(dir / "out.json"));
    ASSERT_EQ(r.rc, 0);
    // Every ref is a JSON Pointer to a node printed in full, and names its path.
    CommandResult py = run_command(
        quote(python_path()) + " -c " +
        quote("import json,sys\n"
              "d=json.load(open(sys.argv[1]))\n"
              "n=0\n"
              "def res(p):\n"
              "    x=d\n"
              "    for k in p[2:].split('/'):\n"
              "        x=x[int(k)] if isinstance(x,list) else x[k]\n"
              "    return x\n"
              "def walk(x):\n"
              "    global n\n"
              "    if isinstance(x,dict):\n"
              "        if x.get('type')=='ref':\n"
              "            assert x['$ref'].startswith('#/root'), x\n"
              "            assert x['path'].startswith('root'), x\n"
              "            assert res(x['$ref'])['type']!='ref'\n"
              "            n+=1\n"
              "        for v in x.values(): walk(v)\n"
              "    elif isinstance(x,list):\n"
              "        for v in x: walk(v)\n"
              "walk(d)\n"
              "print(n, d['totals']['elements'], 'parameters' in d['totals'])\n") +
        " " + quote(dir / "out.json") + " 2>&1");
    EXPECT_EQ(py.out, file.empty() ? "20 2 False\n" : "2 4 False\n") << py.out;
  }
}

// ---------------------------------------------------------------- 2. plot OUT

TEST(PlotOutput, RefusesToOverwriteItsInputOrWriteNonSvg) {
  TempDir dir;
  const std::string csv = "epoch,train_loss,valid_loss,valid_accuracy\n1,0.5,0.4,0.8\n";
  write_file(dir / "one.csv", csv);
  CommandResult r = cli("plot " + quote(dir / "one.csv") + " " + quote(dir / "one.csv"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("usage: torchless plot"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(dir / "one.csv"), csv);

  r = cli("plot " + quote(dir / "one.csv") + " " + quote(dir / "one.png"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find(".svg"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "one.png"));

  // The same file under an .svg name, and through a symlink.
  write_file(dir / "metrics.svg", csv);
  r = cli("plot " + quote(dir / "metrics.svg") + " " + quote(dir / "metrics.svg"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("is the input file"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(dir / "metrics.svg"), csv);
  fs::create_symlink(dir / "one.csv", dir / "link.svg");
  r = cli("plot " + quote(dir / "one.csv") + " " + quote(dir / "link.svg"));
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_EQ(read_file(dir / "one.csv"), csv);

  r = cli("plot " + quote(dir / "one.csv") + " " + quote(dir / "OUT.SVG"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(read_file(dir / "OUT.SVG").find("<svg"), std::string::npos);
}

// ---------------------------------------------------------------- 12. plot ranges

TEST(PlotOutput, HugeAndNarrowRangesStayFinite) {
  TempDir dir;
  write_file(dir / "big.csv",
             "epoch,train_loss,valid_loss,valid_accuracy\n1,1e308,-1e308,0.5\n2,-1e308,1e308,1.7e308\n");
  // A span that vanishes next to its magnitude, and an epoch where +1 is lost.
  write_file(dir / "narrow.csv",
             "epoch,train_loss,valid_loss,valid_accuracy\n1,1e300,1.0000000000000001e300,0.5\n"
             "100000000000000000,1e300,1e300,0.5\n");
  for (const char* name : {"big", "narrow"}) {
    const std::string out = dir / (std::string(name) + ".svg");
    CommandResult r = cli("plot " + quote(dir / (std::string(name) + ".csv")) + " " + quote(out), 20);
    ASSERT_EQ(r.rc, 0) << name << ": " << r.out;
    const std::string svg = read_file(out);
    EXPECT_EQ(svg.find("nan"), std::string::npos) << name;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << name;
    EXPECT_TRUE(std::regex_search(svg, std::regex("<circle cx=\"[0-9.]+\" cy=\"[0-9.]+\""))) << name;
  }
}

// ---------------------------------------------------------------- 3. expanded tensors

TEST(ExpandedTensors, InspectSummarisesWithoutMaterialising) {
  TempDir dir;
  ValuePtr root = Value::dict();
  root->set("huge", Value::from_tensor(torchless::zeros({1}).expand({100000, 100000})));
  const Tensor three = torchless::from_vector(std::vector<double>{1, 2, 3}, {3});
  root->set("big", Value::from_tensor(three.expand({20000, 20000, 3})));
  root->set("rows", Value::from_tensor(torchless::arange(0, 6).view({2, 3}).expand({4, 2, 3})));
  root->set("nan", Value::from_tensor(torchless::from_vector(std::vector<double>{NAN, 1}, {2}).expand({1000, 2})));
  const std::string f = dir / "expand.pt";
  torchless::io::save(root, f);
  ASSERT_LT(fs::file_size(f), 8192u);

  // 1.2e9 elements would take 9.6 GB as doubles: 6 GB of address space must do.
  CommandResult r = cli("inspect " + quote(f), 20, 6L << 20);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("'huge': tensor float32 [100000, 100000] cpu  min 0 max 0 mean 0  [0, 0, 0, 0, ...]"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'big': tensor float32 [20000, 20000, 3] cpu  min 1 max 3 mean 2  [1, 2, 3, 1, ...]"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'rows': tensor float32 [4, 2, 3] cpu  min 0 max 5 mean 2.5  [0, 1, 2, 3, ...]"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'nan': tensor float32 [1000, 2] cpu  min 1 max 1 mean 1  (1000 non-finite)"),
            std::string::npos) << r.out;
  r = cli("inspect --json " + quote(f), 20, 6L << 20);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("\"numel\":10000000000,\"min\":0,\"max\":0,\"mean\":0"), std::string::npos) << r.out;
  r = cli("verify " + quote(f), 20, 6L << 20);
  EXPECT_EQ(r.rc, 0) << r.out;

  // A torch file keeps the view; safetensors would need 4 TB of contiguous data.
  ValuePtr one = Value::dict();
  one->set("t", Value::from_tensor(torchless::zeros({1}).expand({1000000, 1000000})));
  torchless::io::save(one, dir / "one.pt");
  r = cli("convert " + quote(dir / "one.pt") + " " + quote(dir / "one_copy.pt"), 20, 4L << 20);
  EXPECT_EQ(r.rc, 0) << r.out;
  r = cli("convert " + quote(dir / "one.pt") + " " + quote(dir / "one.safetensors"), 20, 4L << 20);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("one.pt: tensor 't' of shape [1000000, 1000000]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4000000000000 bytes"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("bad_alloc"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "one.safetensors"));

#if !defined(__SANITIZE_ADDRESS__)  // needs the address-space cap that cli() drops under ASan
  // Fits this machine, not the 3 GB allowed here: the failed allocation names the tensor too.
  ValuePtr two = Value::dict();
  two->set("w", Value::from_tensor(torchless::ones({3})));
  two->set("t", Value::from_tensor(three.expand({20000, 20000, 3})));
  torchless::io::save(two, dir / "two.pt");
  r = cli("convert " + quote(dir / "two.pt") + " " + quote(dir / "two.safetensors"), 60, 3L << 20);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("'t' of shape [20000, 20000, 3]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4800000000 bytes"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "two.safetensors"));
#endif
}

// ---------------------------------------------------------------- 4. weights_only

TEST(VerifyWeightsOnly, NumpyGlobalsNeedAddSafeGlobalsInTorch) {
  CommandResult r = cli("verify " + quote(std::string(TORCHLESS_TEST_DATA) + "/torch-1.13/numpy_values.pt"));
  ASSERT_EQ(r.rc, 3) << r.out;  // intact, but outside torch's allowlist
  EXPECT_EQ(r.out.find("weights_only: safe (loads with torch.load(weights_only=True))"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("numpy.core.multiarray.scalar"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("numpy.core.multiarray._reconstruct"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("torch.serialization.add_safe_globals"), std::string::npos) << r.out;
  // Every refused global is listed, not just the first.
  r = cli("verify " + quote(kData + "/whole_module.pt"));
  ASSERT_EQ(r.rc, 3) << r.out;
  EXPECT_NE(r.out.find("weights_only: NOT safe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("__main__.Net, torch.nn.modules.container.Sequential"), std::string::npos) << r.out;
  // Plain torch files stay "safe".
  r = cli("verify " + quote(kData + "/legacy_state_dict.pt"));
  EXPECT_NE(r.out.find("weights_only: safe (loads with torch.load(weights_only=True))"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 5. safetensors metadata

TEST(ConvertSafetensors, KeepsMetadata) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> meta = {{"format", "pt"}, {"note", "keep me"}};
  torchless::io::save_safetensors(dir / "in.safetensors",
                                  {{"w", torchless::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2})}}, meta);
  CommandResult r = cli("convert " + quote(dir / "in.safetensors") + " " + quote(dir / "out.safetensors"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(torchless::io::load_safetensors(dir / "out.safetensors").metadata, meta);
  // A torch file has no place for it: dropped, with a note.
  r = cli("convert " + quote(dir / "in.safetensors") + " " + quote(dir / "out.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("__metadata__ (2 entries) has no place in a torch file"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 6. messages name the file

TEST(ErrorMessages, WrongModelNamesTheFile) {
  TempDir dir;
  // The classifier's state_dict with one tensor of the wrong shape.
  ValuePtr sd = torchless::io::load(kData + "/fashion_init_state_dict.pt");
  sd->set("fc1.weight", Value::from_tensor(torchless::zeros({3, 3})));
  const std::string bad = dir / "bad_shape.pt";
  torchless::io::save(sd, bad);
  write_file(dir / "img.pgm", "P5\n28 28\n255\n" + std::string(784, '\0'));

  CommandResult r = cli("eval " + quote(bad) + " --data /nonexistent");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("torchless eval: error: " + bad + ": load_state_dict: size mismatch"), std::string::npos)
      << r.out;
  r = cli("predict " + quote(bad) + " " + quote(dir / "img.pgm"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("torchless predict: error: " + bad + ": load_state_dict: size mismatch"), std::string::npos)
      << r.out;
  const std::string other = kData + "/sequential_state_dict.pt";
  r = cli("eval " + quote(other) + " --data /nonexistent");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find(other + ": load_state_dict: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing key(s)"), std::string::npos) << r.out;
}

TEST(ErrorMessages, CudaCheckpointHintsMapLocation) {
  TempDir dir;
  const std::string src = kData + "/fashion_checkpoint_cuda.pt";
  CommandResult r = cli("convert " + quote(src) + " " + quote(dir / "out.pt"));
  if (r.rc == 0) GTEST_SKIP() << "this machine has a CUDA device: the file loads as saved";
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("torchless convert: error: " + src + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--map-location cpu"), std::string::npos) << r.out;
}

TEST(ErrorMessages, VerifySaysWhyAFileCannotBeOpened) {
  TempDir dir;
  CommandResult r = cli("verify " + quote(dir / "missing.pt"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("FAILED: " + dir / "missing.pt" + ": cannot open: No such file or directory"),
            std::string::npos) << r.out;
  fs::create_symlink(dir / "loop2.pt", dir / "loop1.pt");
  fs::create_symlink(dir / "loop1.pt", dir / "loop2.pt");
  r = cli("verify " + quote(dir / "loop1.pt"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("loop1.pt: cannot open: Too many levels of symbolic links"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 7, 8. flags

TEST(Flags, CheckedBeforeAnyFileIsOpened) {
  TempDir dir;
  const std::string missing = quote(dir / "missing.pt");
  const std::vector<std::string> runs = {
      "inspect --depth=abc " + missing,
      "inspect --depth -1 " + missing,
      "convert --map-location tpu " + missing + " " + quote(dir / "out.pt"),
      "convert " + missing + " " + quote(dir / "out.txt"),
      "eval --threads 0 " + missing,
      "predict --top 0 " + missing + " " + missing,
      "predict --limit x " + missing + " " + missing,
      "plot --title",
      "verify --bogus " + missing,
  };
  for (const std::string& args : runs) {
    const CommandResult r = cli(args);
    EXPECT_EQ(r.rc, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("usage: torchless "), std::string::npos) << args << ": " << r.out;
  }
}

TEST(Flags, DoubleDashEndsOptions) {
  CommandResult r = cli("inspect -- " + quote(kData + "/views.pt"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("(zip, 5 storages)"), std::string::npos) << r.out;
  r = cli("inspect --json -- " + quote(kData + "/views.pt"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.rfind("{\"file\":", 0), 0u) << r.out;
  // After "--" an option-like word is a file name, even --help.
  TempDir dir;
  r = run_command("cd " + quote(dir.path().string()) + " && timeout 60 " + quote(kCli) + " inspect -- --help 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("--help: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("usage:"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 9. PGM header

TEST(PredictPgm, HeaderCheckedBeforeAllocating) {
  TempDir dir;
  const std::string ckpt = quote(kData + "/fashion_checkpoint.pt");
  // 16000x16000 = 256 MB of pixels for a 20-byte file.
  write_file(dir / "big.pgm", "P2 16000 16000 255");
  CommandResult r = cli("predict " + ckpt + " " + quote(dir / "big.pgm"), 60);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("big.pgm: image is 16000x16000, the classifier needs 28x28"), std::string::npos) << r.out;
  // Right size, but the pixels are not there.
  write_file(dir / "short.pgm", "P5\n28 28\n255\n" + std::string(10, '\0'));
  r = cli("predict " + ckpt + " " + quote(dir / "short.pgm"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("short.pgm: PGM: truncated: 28x28 = 784 pixels expected, 10 bytes present"),
            std::string::npos) << r.out;
  write_file(dir / "short2.pgm", "P2\n28 28\n255\n1 2 3\n");
  r = cli("predict " + ckpt + " " + quote(dir / "short2.pgm"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("short2.pgm: PGM: truncated"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 10. control characters

TEST(InspectText, EscapesControlCharacters) {
  TempDir dir;
  torchless::io::save_safetensors(dir / "esc.safetensors",
                                  {{"a\x1b[2J\nb", torchless::ones({2})}},
                                  {{"k\x1b[31m", "v\nX"}, {"c1", "\xc2\x9b" "31m"}});
  CommandResult r = cli("inspect " + quote(dir / "esc.safetensors"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metadata 'k\\x1b[31m' = 'v\\nX'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metadata 'c1' = '\\x9b31m'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  'a\\x1b[2J\\nb': tensor float32 [2] cpu"), std::string::npos) << r.out;

  ValuePtr root = Value::dict();
  root->set("k\x1b[2J\x07", Value::str("line1\nline2\x1b]0;title\x07"));
  torchless::io::save(root, dir / "esc.pt");
  r = cli("inspect " + quote(dir / "esc.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'k\\x1b[2J\\x07': 'line1\\nline2\\x1b]0;title\\x07'"), std::string::npos) << r.out;
}

// ---------------------------------------------------------------- 11. totals

TEST(InspectTotals, CountElementsNotParameters) {
  CommandResult r = cli("inspect " + quote(kData + "/fashion_checkpoint.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  // Adam's state is in there too: these are tensor elements, not the model's parameters.
  EXPECT_NE(r.out.find("total: 40 tensors, 1725160 elements, 6900640 bytes"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("parameters"), std::string::npos) << r.out;
  r = cli("inspect --json " + quote(kData + "/fashion_checkpoint.pt"));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("\"totals\":{\"tensors\":40,\"elements\":1725160,\"bytes\":6900640}"), std::string::npos);
  r = cli("inspect --help");
  EXPECT_NE(r.out.find("not the model's parameter count"), std::string::npos) << r.out;
}

}  // namespace
