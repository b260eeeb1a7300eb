// PageBitmap: the disk cache's record of which pages its file holds.
#include <gtest/gtest.h>

#include "control/page_bitmap.hpp"

namespace {

using mmapurl::control::PageBitmap;

TEST(PageBitmap, AFreshBitmapHoldsNothingAndItsRunStopsAtItsEnd) {
  PageBitmap b(200);
  EXPECT_EQ(b.count(), 0u);
  EXPECT_EQ(b.run_length(0, 1000, false), 200u) << "runs stop at the bitmap's end";
}

TEST(PageBitmap, ARangeAcrossAWordEdgeSetsExactlyItsPages) {
  PageBitmap b(200);
  b.set_range(60, 10);  // crosses the first word's edge
  EXPECT_EQ(b.count(), 10u);
  EXPECT_FALSE(b.test(59));
  EXPECT_TRUE(b.test(60));
  EXPECT_TRUE(b.test(69));
  EXPECT_FALSE(b.test(70));
}

TEST(PageBitmap, ARunEndsAtThePageOfTheOtherStateOrAtMax) {
  PageBitmap b(200);
  b.set_range(60, 10);
  EXPECT_EQ(b.run_length(0, 1000, false), 60u);
  EXPECT_EQ(b.run_length(60, 1000, true), 10u);
  EXPECT_EQ(b.run_length(62, 3, true), 3u) << "at most max";
  EXPECT_EQ(b.run_length(70, 1000, false), 130u);
}

TEST(PageBitmap, OverlappingRangesCountEachPageOnce) {
  PageBitmap b(200);
  b.set_range(60, 10);
  b.set_range(65, 10);  // overlaps: only the 5 new pages count
  EXPECT_EQ(b.count(), 15u);
}

TEST(PageBitmap, TwoWholeWordsMakeOneRun) {
  PageBitmap b(200);
  b.set_range(60, 15);
  b.set_range(0, 64);
  b.set_range(64, 64);  // two whole words
  EXPECT_EQ(b.run_length(0, 1000, true), 128u);
  EXPECT_EQ(b.count(), 128u);
}

TEST(PageBitmap, ARangePastTheEndIsClippedAndNoRunStartsPastIt) {
  PageBitmap b(200);
  b.set_range(0, 128);
  b.set_range(190, 1000);  // clipped to the end
  EXPECT_EQ(b.count(), 138u);
  EXPECT_EQ(b.run_length(190, 1000, true), 10u);
  EXPECT_EQ(b.run_length(200, 10, true), 0u) << "nothing past the end";
}

TEST(PageBitmap, ALongRunIsFoundWordByWord) {
  PageBitmap b(262144);  // a 1 GiB object
  b.set_range(3, 262100);
  EXPECT_EQ(b.run_length(3, UINT64_MAX, true), 262100u);
  EXPECT_EQ(b.run_length(262103, UINT64_MAX, false), 41u);
  EXPECT_EQ(b.run_length(0, UINT64_MAX, false), 3u);
}

}  // namespace
