// Unit tests of the embedded server's deterministic content (header-only, so unit_tests needs no
// server library): the word formula, unaligned slices, and verification pinpointing bad bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

// Relative include: unit_tests does not carry tools/ on its include path.
#include "../../tools/embedded_server/synthetic_content.hpp"

namespace mmapurl::testserver {
namespace {

// Reference: byte `offset` computed alone, straight from the definition.
uint8_t reference_byte(uint64_t seed, uint64_t offset) {
  const uint64_t word = splitmix64(seed ^ (offset / 8));
  return static_cast<uint8_t>(word >> (8 * (offset % 8)));
}

TEST(SyntheticContent, Splitmix64KnownValues) {
  // First outputs of the reference splitmix64 generator seeded with 0 and 1234567.
  EXPECT_EQ(splitmix64(0), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(splitmix64(0x9e3779b97f4a7c15ULL), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(splitmix64(1234567), 6457827717110365317ULL);
}

TEST(SyntheticContent, FirstWordIsLittleEndianSplitmix) {
  uint8_t bytes[8];
  fill_synthetic(0, 0, bytes, 8);
  const uint8_t expected[8] = {0xaf, 0xcd, 0x1d, 0x7b, 0x39, 0xa8, 0x20, 0xe2};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(bytes[i], expected[i]) << i;
}

TEST(SyntheticContent, WordIndexIsXoredWithSeed) {
  uint8_t bytes[8];
  const uint64_t seed = 0x1234;
  fill_synthetic(seed, 8 * 5, bytes, 8);
  const uint64_t word = splitmix64(seed ^ 5);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(bytes[i], static_cast<uint8_t>(word >> (8 * i)));
}

TEST(SyntheticContent, UnalignedSlicesMatchByteByByteReference) {
  const uint64_t seed = 42;
  for (uint64_t offset : {0ull, 1ull, 3ull, 7ull, 8ull, 9ull, 4093ull, 4096ull, 1ull << 33}) {
    for (size_t len : {0u, 1u, 2u, 5u, 7u, 8u, 9u, 15u, 16u, 17u, 100u, 4097u, 10000u}) {
      std::vector<uint8_t> got(len + 2, 0xee);
      fill_synthetic(seed, offset, got.data() + 1, len);
      EXPECT_EQ(got.front(), 0xee) << "wrote before dst";
      EXPECT_EQ(got.back(), 0xee) << "wrote past dst+len";
      for (size_t i = 0; i < len; ++i) {
        ASSERT_EQ(got[i + 1], reference_byte(seed, offset + i))
            << "offset " << offset << " len " << len << " i " << i;
      }
    }
  }
}

TEST(SyntheticContent, SeedsGiveDifferentContent) {
  std::vector<uint8_t> a(256), b(256);
  fill_synthetic(1, 0, a.data(), a.size());
  fill_synthetic(2, 0, b.data(), b.size());
  EXPECT_NE(a, b);
}

TEST(SyntheticContent, CheckAcceptsCorrectData) {
  std::vector<uint8_t> data(20000);
  fill_synthetic(7, 12345, data.data(), data.size());
  uint64_t bad = 999;
  EXPECT_TRUE(check_synthetic(7, 12345, data.data(), data.size(), &bad));
  EXPECT_EQ(bad, 999u) << "untouched on success";
  EXPECT_TRUE(check_synthetic(7, 12345, data.data(), 0, nullptr));
}

TEST(SyntheticContent, CheckFindsFlippedByteAtItsOffset) {
  const uint64_t base = 12345;
  std::vector<uint8_t> data(20000);
  for (size_t flip : {size_t{0}, size_t{3}, size_t{4095}, size_t{4096}, size_t{19999}}) {
    fill_synthetic(7, base, data.data(), data.size());
    data[flip] ^= 0x10;
    uint64_t bad = 0;
    EXPECT_FALSE(check_synthetic(7, base, data.data(), data.size(), &bad));
    EXPECT_EQ(bad, base + flip);
    EXPECT_FALSE(check_synthetic(7, base, data.data(), data.size(), nullptr));
  }
}

TEST(SyntheticContent, CheckRejectsWrongSeedOrShiftedOffset) {
  std::vector<uint8_t> data(64);
  fill_synthetic(7, 0, data.data(), data.size());
  uint64_t bad = 1;
  EXPECT_FALSE(check_synthetic(8, 0, data.data(), data.size(), &bad));
  EXPECT_FALSE(check_synthetic(7, 8, data.data(), data.size(), &bad));
}

}  // namespace
}  // namespace mmapurl::testserver
