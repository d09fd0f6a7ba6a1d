// What `make fuzz` found, kept as regression tests (tests/data/fuzz/ holds
// the fuzzers' inputs as they saved them).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "io/pickle_scan.h"
#include "io/torch_legacy.h"
#include "io/torch_load.h"
#include "io/value.h"
#include "support/test_util.h"

namespace {

using torchless::io::Value;
using torchless::io::ValuePtr;

const std::string kFuzz = std::string(TORCHLESS_TEST_DATA) + "/fuzz/";

// legacy_fuzz: a legacy file whose bool storage holds the byte 134. Copying
// the tensor read it as a C++ bool, which is undefined behaviour (UBSan:
// "load of value 134, which is not a valid value for type 'bool'"). Bool
// storages are now normalised to 0/1 as they are read, in every reader.
TEST(FuzzRegressions, LegacyBoolStorageWithByte134) {
  const std::string bytes = torchless::test::read_file(kFuzz + "legacy-bool-byte-134.pt");
  ASSERT_FALSE(bytes.empty());
  torchless::io::LoadOptions opt;
  torchless::io::Checkpoint ck = torchless::io::load_legacy(bytes, "legacy-bool-byte-134.pt", opt);
  const torchless::Tensor m = ck.root->at("m")->tensor;
  ASSERT_EQ(m.dtype(), torchless::DType::Bool);
  ASSERT_EQ(m.numel(), 2);
  const auto* raw = static_cast<const unsigned char*>(m.storage().data());
  for (int64_t k = 0; k < m.numel(); ++k) EXPECT_EQ(raw[m.storage_offset() + k], 1) << k;
  EXPECT_TRUE(m.contiguous().to(torchless::DType::Float32).defined());
}

// checkpoint_fuzz: a raw pickle whose list holds itself (through the memo).
// The scan dropped the tree it built, and the cycle leaked (LeakSanitizer).
// io::release frees such trees; the scan releases what it walked.
TEST(FuzzRegressions, ScanOfACyclicPickleFreesIt) {
  const std::string bytes = torchless::test::read_file(kFuzz + "checkpoint-cycle-leak.bin");
  ASSERT_FALSE(bytes.empty());
  torchless::io::PickleScan scan;
  torchless::io::scan_pickle(bytes, "raw", scan);  // under ASan, a leak fails the run

  // release() frees a self-holding list, which dropping the pointer cannot.
  ValuePtr l = Value::list();
  l->items.push_back(l);
  ValuePtr d = Value::dict();
  d->set("self", d);
  d->set("l", l);
  std::weak_ptr<Value> wl = l, wd = d;
  l.reset();
  EXPECT_FALSE(wl.expired());  // the cycle keeps it alive
  torchless::io::release(d);
  EXPECT_EQ(d, nullptr);
  EXPECT_TRUE(wd.expired());
  EXPECT_TRUE(wl.expired());
}

// legacy_fuzz: a legacy file whose system-info pickle is a dict holding
// itself, followed by a broken object pickle. The error path dropped the
// cyclic header tree, which leaked (LeakSanitizer); every tree the legacy
// reader builds is now released however the load ends.
TEST(FuzzRegressions, LegacyCyclicHeaderOnTheErrorPath) {
  const std::string bytes = torchless::test::read_file(kFuzz + "legacy-cyclic-sys-info.pt");
  ASSERT_FALSE(bytes.empty());
  torchless::io::LoadOptions opt;
  const std::string msg = torchless::test::message_of([&] { torchless::io::load_legacy(bytes, "cyclic.pt", opt); });
  EXPECT_TRUE(torchless::test::contains(msg, "cyclic.pt: pickle: BINBYTES8 declares")) << msg;
}

// legacy_fuzz: a legacy object pickle that passes a tensor where a storage
// location belongs. The error message printed that tensor, whose storage
// (filled only after the object pickle) held uninitialised bytes: read as
// bool, undefined behaviour. Legacy storages start zeroed now.
TEST(FuzzRegressions, LegacyErrorMessagePrintsAnUnfilledStorage) {
  const std::string bytes = torchless::test::read_file(kFuzz + "legacy-error-prints-unfilled-storage.pt");
  ASSERT_FALSE(bytes.empty());
  torchless::io::LoadOptions opt;
  const std::string msg = torchless::test::message_of([&] { torchless::io::load_legacy(bytes, "x.pt", opt); });
  EXPECT_TRUE(torchless::test::contains(msg, "x.pt: storage location is not a string: tensor([False, False, False]"))
      << msg;
}

// checkpoint_fuzz: a protocol-0 pickle of a dict that holds itself, which
// is no torch file: the legacy reader's first pickle is not the magic
// number, and the dict it dropped leaked. Run under ASan, this leaks no more.
TEST(FuzzRegressions, CyclicPickleThatIsNoCheckpoint) {
  const std::string bytes = torchless::test::read_file(kFuzz + "checkpoint-cyclic-not-a-checkpoint.pkl");
  ASSERT_FALSE(bytes.empty());
  const std::string msg =
      torchless::test::message_of([&] { torchless::io::load_checkpoint_bytes(bytes, "x.pkl", {}); });
  EXPECT_TRUE(torchless::test::contains(msg, "x.pkl: not a torch checkpoint")) << msg;
}

// A storage the legacy object uses but the storage key list omits would have
// given tensors the allocation's leftover bytes; it is an error now.
TEST(FuzzRegressions, LegacyStorageMissingFromTheKeyList) {
  std::string bytes = torchless::test::read_file(kFuzz + "legacy-bool-byte-134.pt");
  // The key list is the last pickle before the data:
  //   \x80\x02 ] q\x00 ( X'931583744' q\x01 X'936394864' q\x02 e .
  // Its APPENDS ('e') becomes POP_MARK ('1'): the list is left empty.
  const size_t keys = bytes.rfind("\x80\x02]q");
  ASSERT_NE(keys, std::string::npos);
  const size_t appends = bytes.find("q\x02" "e.", keys);
  ASSERT_NE(appends, std::string::npos);
  bytes[appends + 2] = '1';
  torchless::io::LoadOptions opt;
  const std::string msg = torchless::test::message_of(
      [&] { torchless::io::load_legacy(bytes, "x.pt", opt); });
  EXPECT_TRUE(torchless::test::contains(msg, "is used by the object but missing from the storage key list")) << msg;
}

}  // namespace
