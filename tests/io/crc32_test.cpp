// The folding CRC-32 against zlib's, the reference, on every length and
// alignment that exercises its paths (short tails, 16-byte folds, 64-byte folds).
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <vector>

#include "io/crc32.h"

using torchless::io::crc32_combine_lengths;
using torchless::io::crc32_update;

TEST(Crc32, MatchesZlibOnEveryShape) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(8192 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t offset : {0, 1, 3, 8, 15}) {
    for (size_t n = 0; n <= 600; ++n) {
      const uint8_t* p = buf.data() + offset;
      ASSERT_EQ(crc32_update(0, p, n), crc32_z(0, p, n)) << "n=" << n << " offset=" << offset;
    }
    const uint8_t* p = buf.data() + offset;
    EXPECT_EQ(crc32_update(0, p, 8192), crc32_z(0, p, 8192));
  }
}

TEST(Crc32, KnownValuesAndChaining) {
  EXPECT_EQ(crc32_update(0, "123456789", 9), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(crc32_update(0, nullptr, 0), 0u);
  std::vector<uint8_t> big(1 << 20);
  std::mt19937 rng(1);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  const uint32_t whole = crc32_update(0, big.data(), big.size());
  EXPECT_EQ(whole, crc32_z(0, big.data(), big.size()));
  // chaining and combining pieces give the same CRC
  const size_t cut = 300001;
  EXPECT_EQ(crc32_update(crc32_update(0, big.data(), cut), big.data() + cut, big.size() - cut), whole);
  EXPECT_EQ(crc32_combine_lengths(crc32_update(0, big.data(), cut), crc32_update(0, big.data() + cut, big.size() - cut),
                                  big.size() - cut),
            whole);
  // all zeros and all ones, long runs
  std::vector<uint8_t> zeros(100000, 0), ones(100000, 0xFF);
  EXPECT_EQ(crc32_update(0, zeros.data(), zeros.size()), crc32_z(0, zeros.data(), zeros.size()));
  EXPECT_EQ(crc32_update(0, ones.data(), ones.size()), crc32_z(0, ones.data(), ones.size()));
}
