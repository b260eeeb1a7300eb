// FillOrder: the eviction queue, oldest fills first, nothing kept of a mapping that is gone.
#include <gtest/gtest.h>

#include "control/fill_order.hpp"

using mmapurl::control::FillOrder;

TEST(FillOrder, ContiguousFillsOfOneMappingShareASegment) {
  FillOrder q;
  q.note_filled(1, 0, 4);
  q.note_filled(1, 4, 4);
  EXPECT_EQ(q.segments(), 1u);
  q.note_filled(2, 8, 4);    // another mapping
  q.note_filled(1, 100, 1);  // not contiguous
  EXPECT_EQ(q.segments(), 3u);
  q.note_filled(1, 101, 0);
  EXPECT_EQ(q.segments(), 3u);
}

TEST(FillOrder, TakesTheOldestFromTheFrontAndNeverMoreThanAsked) {
  FillOrder q;
  q.note_filled(1, 10, 8);
  q.note_filled(2, 0, 8);
  auto a = q.take_oldest(3, 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->mapping_id, 1u);
  EXPECT_EQ(a->first_page, 10u);
  EXPECT_EQ(a->count, 3u);
  auto b = q.take_oldest(100, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_page, 13u);
  EXPECT_EQ(b->count, 5u);
  auto c = q.take_oldest(100, 0);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->mapping_id, 2u);
  EXPECT_EQ(q.segments(), 0u);
  EXPECT_FALSE(q.take_oldest(1, 0));
}

TEST(FillOrder, KeepsTheNewestPagesOfTheLastSegment) {
  FillOrder q;
  q.note_filled(1, 0, 10);
  auto a = q.take_oldest(100, 4);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->count, 6u);
  EXPECT_FALSE(q.take_oldest(100, 4)) << "only the kept pages are left";
  // Older segments are evicted whole: the kept pages are the newest segment's.
  q.note_filled(2, 0, 3);
  auto b = q.take_oldest(100, 4);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->mapping_id, 1u);
  EXPECT_EQ(b->count, 4u);
}

// The queue held the segments of unmapped mappings until memory pressure walked them: a service
// mapping and unmapping all day without pressure grew by them for ever.
TEST(FillOrder, AMappingForgottenLeavesNothingBehind) {
  FillOrder q;
  for (uint64_t id = 1; id <= 1000; ++id) {
    q.note_filled(id, 0, 4);
    q.note_filled(id, 50, 4);
    q.forget_mapping(id);
  }
  EXPECT_EQ(q.segments(), 0u);
  q.note_filled(7, 0, 1);
  q.note_filled(8, 0, 1);
  q.note_filled(7, 5, 1);
  q.forget_mapping(7);
  EXPECT_EQ(q.segments(), 1u);
  auto left = q.take_oldest(10, 0);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->mapping_id, 8u);
}

// Pages dropped at the user's advice and filled again were queued twice: a service dropping and
// re-reading one long-lived mapping grew the queue by a segment per cycle.
TEST(FillOrder, ARangeForgottenLeavesTheRestInOrder) {
  FillOrder q;
  q.note_filled(1, 0, 10);
  q.note_filled(2, 0, 4);
  q.forget_range(1, 3, 6);  // splits mapping 1's segment
  EXPECT_EQ(q.segments(), 3u);
  auto a = q.take_oldest(100, 0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first_page, 0u);
  EXPECT_EQ(a->count, 3u);
  auto b = q.take_oldest(100, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_page, 6u);
  EXPECT_EQ(b->count, 4u);
  for (int cycle = 0; cycle < 1000; ++cycle) {
    q.note_filled(3, 100, 8);
    q.forget_range(3, 100, 108);
  }
  EXPECT_EQ(q.segments(), 1u) << "only mapping 2's segment is left";
  q.forget_range(2, 0, 4);
  EXPECT_EQ(q.segments(), 0u);
}
