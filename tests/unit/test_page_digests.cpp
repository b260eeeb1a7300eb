// PageDigests, how uffd-bench and the peer benchmark's reader check what they read: right bytes
// pass, and a changed byte, a page from elsewhere or a span past the end fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "uffd_bench/page_digests.hpp"

namespace {

using mmapurl::bench::PageDigests;
constexpr uint64_t kPage = PageDigests::kPage;

// A temporary file of `size` random bytes (a partial last page unless size is a multiple).
class ReferenceFile : public ::testing::Test {
 protected:
  void make(size_t size) {
    bytes_.resize(size);
    std::mt19937_64 g(99);
    for (auto& b : bytes_) b = static_cast<uint8_t>(g());
    char name[] = "/tmp/mmapurl-digests-XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    path_ = name;
    ASSERT_EQ(write(fd, bytes_.data(), bytes_.size()), static_cast<ssize_t>(bytes_.size()));
    close(fd);
    std::string error;
    ASSERT_TRUE(digests_.load(path_, &error)) << error;
  }
  void TearDown() override {
    if (!path_.empty()) std::remove(path_.c_str());
  }

  std::vector<uint8_t> bytes_;
  std::string path_;
  PageDigests digests_;
};

TEST_F(ReferenceFile, TheReferenceItselfMatchesWholeAndInPieces) {
  make(5 * (1 << 20) + 777);  // several load reads, and a partial last page
  EXPECT_EQ(digests_.size(), bytes_.size());
  EXPECT_TRUE(digests_.matches(0, bytes_.data(), bytes_.size()));
  EXPECT_TRUE(digests_.matches(kPage * 3, bytes_.data() + kPage * 3, kPage));
  const uint64_t last = bytes_.size() / kPage * kPage;
  EXPECT_TRUE(digests_.matches(last, bytes_.data() + last, bytes_.size() - last));
  // Not on page boundaries: checked against the file itself.
  EXPECT_TRUE(digests_.matches(5, bytes_.data() + 5, 10000));
}

TEST_F(ReferenceFile, AChangedByteFailsWhereverItIs) {
  make(64 * kPage);
  for (size_t at : {size_t{0}, size_t{4095}, size_t{4096 * 7 + 100}, size_t{64 * 4096 - 1}}) {
    std::vector<uint8_t> copy = bytes_;
    copy[at] ^= 0x10;
    EXPECT_FALSE(digests_.matches(0, copy.data(), copy.size())) << at;
    EXPECT_FALSE(digests_.matches(at / kPage * kPage, copy.data() + at / kPage * kPage, kPage))
        << at;
    EXPECT_FALSE(digests_.matches(at, copy.data() + at, 1)) << at;  // the unaligned way
  }
}

TEST_F(ReferenceFile, BytesMovedWithinAPageOrFromAnotherPageFail) {
  make(16 * kPage);
  std::vector<uint8_t> swapped(bytes_.begin() + kPage * 2, bytes_.begin() + kPage * 3);
  std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 8);  // same sum
  EXPECT_FALSE(digests_.matches(kPage * 2, swapped.data(), kPage));
  EXPECT_FALSE(digests_.matches(kPage * 5, bytes_.data() + kPage * 6, kPage));
  const std::vector<uint8_t> zeros(kPage, 0);
  EXPECT_FALSE(digests_.matches(0, zeros.data(), kPage));
}

TEST_F(ReferenceFile, SpansPastTheEndFail) {
  make(4 * kPage + 10);
  std::vector<uint8_t> longer = bytes_;
  longer.resize(bytes_.size() + 1);
  EXPECT_FALSE(digests_.matches(0, longer.data(), longer.size()));
  EXPECT_FALSE(digests_.matches(bytes_.size() + kPage, bytes_.data(), 1));
}

TEST(PageDigests, AMissingFileIsAnError) {
  PageDigests d;
  std::string error;
  EXPECT_FALSE(d.load("/nonexistent/mmapurl-reference", &error));
  EXPECT_NE(error.find("/nonexistent/mmapurl-reference"), std::string::npos) << error;
}

}  // namespace
