// `torchless verify` as a malware scanner: its exit code is the verdict
// (0 ok, 1 damaged, 2 usage, 3 outside torch's weights_only allowlist, 4 runs
// code), checked on files that Python's own pickle and torch.save wrote,
// payloads included. verify must never run a payload: each one would create
// a marker file, which must not exist afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/test_util.h"

namespace {

namespace fs = std::filesystem;
using torchless::test::CommandResult;
using torchless::test::contains;
using torchless::test::python_has_torch;
using torchless::test::quote;
using torchless::test::read_file;
using torchless::test::run_command;
using torchless::test::TempDir;
using torchless::test::write_file;

const std::string kData = std::string(TORCHLESS_TEST_DATA) + "/torch-2.11";

CommandResult verify(const std::string& args) {
  return run_command("timeout 60 " + quote(TORCHLESS_CLI) + " verify " + args + " 2>&1");
}

// Runs a Python script with the directory as argv[1].
int python(const TempDir& dir, const std::string& script) {
  write_file(dir / "make.py", script);
  return run_command(quote(torchless::test::python_path()) + " " + quote(dir / "make.py") + " " + quote(dir.path()) +
                     " 2>&1").rc;
}

// The payloads: each would touch MARKER if anything ran it.
const std::string kPayloads = R"PY(
import os, sys, pickle, torch
d = sys.argv[1]
marker = os.path.join(d, 'MARKER')
class Evil:
    def __reduce__(self):
        return (os.system, ('touch ' + marker,))
class Nested:
    def __reduce__(self):
        return (torch.storage._load_from_bytes, (pickle.dumps(Evil(), protocol=2),))
class Exec:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch " + marker + "')",))
torch.save({'state_dict': {'w': torch.ones(2)}, 'payload': Evil()}, os.path.join(d, 'evil.pt'))
torch.save({'w': torch.ones(2), 'nested': Nested()}, os.path.join(d, 'nested.pt'))
torch.save([torch.zeros(3), Exec()], os.path.join(d, 'legacy_evil.pt'), _use_new_zipfile_serialization=False)
with open(os.path.join(d, 'raw.pkl'), 'wb') as f:
    pickle.dump(Evil(), f)  # not a torch file, but torch's legacy path unpickles it
)PY";

class VerifyScan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!python_has_torch()) GTEST_SKIP() << "python3 with torch not found";
    ASSERT_EQ(python(dir_, kPayloads), 0);
  }
  void TearDown() override { EXPECT_FALSE(fs::exists(dir_ / "MARKER")) << "a payload ran"; }
  TempDir dir_;
};

TEST_F(VerifyScan, ReducePayloadExits4AndSaysWhere) {
  CommandResult r = verify(quote(dir_ / "evil.pt"));
  EXPECT_EQ(r.rc, 4) << r.out;
  // os.system pickles as posix.system on Linux.
  EXPECT_TRUE(contains(r.out, "RUNS CODE posix.system: runs shell commands")) << r.out;
  EXPECT_TRUE(contains(r.out, "in data.pkl at byte ")) << r.out;
  EXPECT_TRUE(contains(r.out, "at root['payload']")) << r.out;
  EXPECT_TRUE(contains(r.out, "DANGER: torch.load(weights_only=False) of this file would run code (posix.system)"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "OK:")) << r.out;
}

TEST_F(VerifyScan, NestedPickleIsScanned) {
  CommandResult r = verify("--json " + quote(dir_ / "nested.pt"));
  EXPECT_EQ(r.rc, 4) << r.out;
  EXPECT_TRUE(contains(r.out, "\"name\":\"torch.storage._load_from_bytes\",\"risk\":\"executes\"")) << r.out;
  // The bytes handed to _load_from_bytes hold the real payload.
  EXPECT_TRUE(contains(r.out, "\"name\":\"posix.system\",\"risk\":\"executes\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"pickle\":\"data.pkl: root['nested'].args (nested pickle)\"")) << r.out;
  // The report is valid JSON with the verdict in it.
  write_file(dir_ / "report.json", r.out);
  CommandResult j = run_command(quote(torchless::test::python_path()) +
                                " -c \"import json,sys; r=json.load(open(sys.argv[1])); "
                                "print(r['verdict'], r['exit_code'], sum(g['risk'] == 'executes' for g in r['globals']))\" " +
                                quote(dir_ / "report.json"));
  EXPECT_EQ(j.out, "runs_code 4 2\n") << r.out;
}

TEST_F(VerifyScan, LegacyFormatAndRawPicklePayloads) {
  CommandResult r = verify(quote(dir_ / "legacy_evil.pt"));
  EXPECT_EQ(r.rc, 4) << r.out;
  EXPECT_TRUE(contains(r.out, "RUNS CODE builtins.eval: evaluates Python code; in legacy object pickle")) << r.out;
  EXPECT_TRUE(contains(r.out, "at root[1]")) << r.out;

  // Not a torch file at all: still 4, since torch.load's legacy path would
  // unpickle it before it looks for the magic number; the damage is listed.
  r = verify(quote(dir_ / "raw.pkl"));
  EXPECT_EQ(r.rc, 4) << r.out;
  EXPECT_TRUE(contains(r.out, "RUNS CODE posix.system")) << r.out;
  EXPECT_TRUE(contains(r.out, "not a torch checkpoint")) << r.out;
}

TEST(VerifyExitCodes, HandMadePickles) {
  TempDir dir;
  // A call whose result is popped: absent from the loaded object, it runs all the same.
  write_file(dir / "popped.pkl", "cos\nsystem\n(S'true'\ntR0(dp0\n.");
  CommandResult r = verify(quote(dir / "popped.pkl"));
  EXPECT_EQ(r.rc, 4) << r.out;
  EXPECT_TRUE(contains(r.out, "os.system: runs shell commands and touches files (os.system, os.popen, os.exec*); in first pickle (file byte 0) at byte 0, its result "
                              "not kept (it runs during the load all the same)"))
      << r.out;
  // subprocess via STACK_GLOBAL (protocol 4), named in full.
  write_file(dir / "sub.pkl", std::string("\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93\x8c\x04true\x85R.", 31));
  r = verify("--json " + quote(dir / "sub.pkl"));
  EXPECT_EQ(r.rc, 4) << r.out;
  EXPECT_TRUE(contains(r.out, "\"name\":\"subprocess.Popen\",\"risk\":\"executes\",\"why\":\"starts processes\""))
      << r.out;
  EXPECT_TRUE(contains(r.out, "\"paths\":[\"root\"]")) << r.out;
}

TEST(VerifyExitCodes, CleanNumpyWholeModelDamagedAndUsage) {
  // 0: torch's own files.
  for (const char* f : {"fashion_checkpoint.pt", "legacy_state_dict.pt", "dtypes.pt"}) {
    CommandResult r = verify(quote(kData + "/" + f));
    EXPECT_EQ(r.rc, 0) << f << ": " << r.out;
    r = verify("--json " + quote(kData + "/" + f));
    EXPECT_TRUE(contains(r.out, "\"exit_code\":0,\"verdict\":\"ok\"")) << r.out;
  }
  // 3: numpy scalars (torch 1.13's file) and a whole pickled model.
  CommandResult r = verify(quote(std::string(TORCHLESS_TEST_DATA) + "/torch-1.13/numpy_values.pt"));
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_TRUE(contains(r.out, "numpy     numpy.core.multiarray.scalar: rebuilds a numpy value")) << r.out;
  r = verify(quote(kData + "/whole_module.pt"));
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_TRUE(contains(r.out, "imports   __main__.Net: not in torch's weights_only allowlist")) << r.out;
  EXPECT_TRUE(contains(r.out, "NOT WEIGHTS-ONLY")) << r.out;
  // 1: damage.
  TempDir dir;
  const std::string bytes = read_file(kData + "/fashion_checkpoint.pt");
  write_file(dir / "cut.pt", bytes.substr(0, bytes.size() - 100));
  r = verify(quote(dir / "cut.pt"));
  EXPECT_EQ(r.rc, 1) << r.out;
  r = verify("--json " + quote(dir / "cut.pt"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "\"verdict\":\"damaged\"")) << r.out;
  // 2: usage.
  EXPECT_EQ(verify("").rc, 2);
  EXPECT_EQ(verify("--bogus " + quote(dir / "cut.pt")).rc, 2);
  EXPECT_EQ(verify(quote(dir / "cut.pt") + " extra").rc, 2);
}

}  // namespace
