// The legacy (pre-1.6) reader against files that lie: the element count in
// front of a storage's bytes disagreeing with the pickle, storages cut
// short, a key list naming storages the object never used, and every
// truncation of a real file. Each is a clear error naming the file; none
// reads past the end or allocates what the file merely claims.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "io/torch_legacy.h"
#include "support/test_util.h"

namespace {

using torchless::test::contains;
using torchless::test::message_of;

// torch.save({'w': randn(2, 3), 'b': arange(4)}, _use_new_zipfile_serialization=False)
std::string legacy_file() {
  return torchless::test::read_file(std::string(TORCHLESS_SOURCE_DIR) + "/tests/fuzz/corpus/legacy/dict.pt");
}

std::string load_error(const std::string& bytes) {
  return message_of([&] {
    torchless::io::LoadOptions opt;
    torchless::io::load_legacy(bytes, "lies.pt", opt);
  });
}

// Offset of the first storage's element count: just past the key list
// pickle, which ends in "q\x02e." (two keys).
size_t first_count(const std::string& b) {
  const size_t keys = b.rfind("\x80\x02]q");
  const size_t end = b.find("q\x02" "e.", keys);
  return end == std::string::npos ? end : end + 4;
}

TEST(LegacyHostile, TheFileItselfLoads) {
  torchless::io::LoadOptions opt;
  torchless::io::Checkpoint ck = torchless::io::load_legacy(legacy_file(), "dict.pt", opt);
  EXPECT_EQ(ck.format, "legacy");
  EXPECT_EQ(ck.storages.size(), 2u);
}

TEST(LegacyHostile, ElementCountInTheDataDisagreesWithThePickle) {
  std::string b = legacy_file();
  const size_t at = first_count(b);
  ASSERT_NE(at, std::string::npos);
  int64_t n = 0;
  std::memcpy(&n, b.data() + at, 8);
  for (int64_t lie : {n + 1, n - 1, int64_t{1} << 62, int64_t{-1}}) {
    std::string bad = b;
    std::memcpy(bad.data() + at, &lie, 8);
    const std::string msg = load_error(bad);
    EXPECT_TRUE(contains(msg, "lies.pt: storage '") && contains(msg, std::to_string(lie) + " elements in the data, " +
                                                                       std::to_string(n) + " in the pickle"))
        << msg;
  }
}

TEST(LegacyHostile, KeyListNamesAStorageTheObjectNeverUsed) {
  std::string b = legacy_file();
  const size_t keys = b.rfind("\x80\x02]q");
  const size_t k = b.find("X\t", keys);  // the first key's BINUNICODE
  ASSERT_NE(k, std::string::npos);
  b[k + 5] = b[k + 5] == '9' ? '8' : '9';  // another key of the same length
  EXPECT_TRUE(contains(load_error(b), "is listed but never used")) << load_error(b);
}

TEST(LegacyHostile, EveryTruncationFailsCleanly) {
  const std::string b = legacy_file();
  for (size_t n = 0; n < b.size(); ++n) {
    const std::string msg = load_error(b.substr(0, n));
    EXPECT_TRUE(contains(msg, "lies.pt: ")) << n << ": " << msg;
    EXPECT_FALSE(contains(msg, "<no exception>")) << n;
  }
  // The whole file loads: each failure above is the truncation.
  EXPECT_EQ(load_error(b), "<no exception>");
}

}  // namespace
