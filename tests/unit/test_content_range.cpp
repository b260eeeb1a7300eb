// source::parse_content_range: the Content-Range header of a ranged answer, refused whole when any
// part of it is malformed or overflows.
#include <gtest/gtest.h>

#include "source/http/content_range.hpp"

namespace mmapurl::source {
namespace {

TEST(ContentRange, ParsesTheRangeAndTheTotal) {
  auto r = parse_content_range("bytes 0-99/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 99u);
  EXPECT_EQ(*r->total, 1000u);
}

TEST(ContentRange, AStarTotalIsAnUnknownSize) {
  auto star = parse_content_range("bytes 5-9/*");
  ASSERT_TRUE(star);
  EXPECT_FALSE(star->total);
}

TEST(ContentRange, AnUnsatisfiedRangeNamesTheTotal) {
  auto uns = parse_content_range("bytes */0");
  ASSERT_TRUE(uns);
  EXPECT_TRUE(uns->unsatisfied);
  EXPECT_EQ(*uns->total, 0u);
}

TEST(ContentRange, OffsetsPastFourGibibytesParse) {
  auto big = parse_content_range("bytes 4294967296-4294971391/5000000000");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->first, 4294967296ull);
}

TEST(ContentRange, RefusesMalformedAndOverflow) {
  for (const char* bad :
       {"", "bytes", "bytes 1-0/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-1", "bytes -1-2/3",
        "bytes 0-99999999999999999999/1", "bytes */*", "bytes a-b/c", "bytes 0-1/2x"}) {
    EXPECT_FALSE(parse_content_range(bad)) << bad;
  }
}

}  // namespace
}  // namespace mmapurl::source
