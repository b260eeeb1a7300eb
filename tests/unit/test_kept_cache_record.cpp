// The kept cache's record: what it holds comes back only for the same object and size.
#include <gtest/gtest.h>

#include "cache/kept_cache_record.hpp"

namespace {

using mmapurl::cache::decode_kept_cache_record;
using mmapurl::cache::encode_kept_cache_record;
using mmapurl::control::PageBitmap;

PageBitmap some_pages(uint64_t pages) {
  PageBitmap held(pages);
  held.set_range(0, 3);
  held.set_range(64, 70);
  held.set_range(pages - 1, 1);
  return held;
}

TEST(KeptCacheRecord, RoundTripsTheHeldPages) {
  const PageBitmap held = some_pages(200);
  auto back = decode_kept_cache_record(encode_kept_cache_record("size 819200 etag \"a\"", held),
                                       "size 819200 etag \"a\"", 200);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->count(), held.count());
  EXPECT_EQ(back->words(), held.words());
  EXPECT_TRUE(back->test(199));
  EXPECT_FALSE(back->test(3));
}

TEST(KeptCacheRecord, StartsWithAHeaderAPersonCanRead) {
  const std::string record = encode_kept_cache_record("size 4096 etag \"x\"", PageBitmap(1));
  EXPECT_EQ(record.rfind("mmapurl-cache 1\nvalidator size 4096 etag \"x\"\npages 1\n", 0), 0u);
}

TEST(KeptCacheRecord, AnotherObjectOrSizeIsNoRecord) {
  const std::string record = encode_kept_cache_record("size 819200 etag \"a\"", some_pages(200));
  EXPECT_FALSE(decode_kept_cache_record(record, "size 819200 etag \"b\"", 200));
  EXPECT_FALSE(decode_kept_cache_record(record, "size 819200 etag \"a\"", 201));
  EXPECT_FALSE(decode_kept_cache_record(record, "size 819200 etag \"a\"", 199));
}

TEST(KeptCacheRecord, ACutOrLongerFileIsNoRecord) {
  const std::string record = encode_kept_cache_record("v", some_pages(200));
  for (size_t cut : {size_t{0}, size_t{10}, record.size() - 1}) {
    EXPECT_FALSE(decode_kept_cache_record(record.substr(0, cut), "v", 200)) << cut;
  }
  EXPECT_FALSE(decode_kept_cache_record(record + "x", "v", 200));
  std::string damaged = record;
  damaged[3] = 'X';
  EXPECT_FALSE(decode_kept_cache_record(damaged, "v", 200));
}

TEST(KeptCacheRecord, AValidatorWithALineBreakNeverMatches) {
  // "v\npages 200" would otherwise let a forged header line pass.
  EXPECT_FALSE(decode_kept_cache_record(encode_kept_cache_record("v\npages 1", PageBitmap(1)),
                                        "v\npages 1", 1));
}

TEST(KeptCacheRecord, BitsPastTheLastPageAreDropped) {
  std::string record = encode_kept_cache_record("v", PageBitmap(3));
  record.back() = '\xff';  // the high byte of the only word: pages 56..63, none of them real
  auto back = decode_kept_cache_record(record, "v", 3);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->count(), 0u);
}

TEST(KeptCacheRecord, AnEmptyObjectHasAnEmptyBitmap) {
  auto back = decode_kept_cache_record(encode_kept_cache_record("v", PageBitmap(0)), "v", 0);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), 0u);
}

}  // namespace
