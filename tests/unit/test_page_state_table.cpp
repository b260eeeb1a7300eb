// control::PageStateTable: one state per page of a mapping, counted per state, with runs of one
// state found from a page on.
#include <gtest/gtest.h>

#include "control/page_state_table.hpp"

namespace mmapurl::control {
namespace {

TEST(PageStateTable, StartsWithEveryPageAbsent) {
  PageStateTable t(10);
  EXPECT_EQ(t.count(PageState::kAbsent), 10u);
}

TEST(PageStateTable, SetRangeMovesThosePagesFromOneCountToAnother) {
  PageStateTable t(10);
  t.set_range(2, 3, PageState::kInFlight);
  EXPECT_EQ(t.count(PageState::kInFlight), 3u);
  EXPECT_EQ(t.count(PageState::kAbsent), 7u);
}

TEST(PageStateTable, RunLengthCountsPagesOfOneStateFromAPageUpToALimit) {
  PageStateTable t(10);
  t.set_range(2, 3, PageState::kInFlight);
  EXPECT_EQ(t.run_length(0, 10, PageState::kAbsent), 2u);
  EXPECT_EQ(t.run_length(2, 10, PageState::kInFlight), 3u);
  EXPECT_EQ(t.run_length(2, 2, PageState::kInFlight), 2u);
}

TEST(PageStateTable, SetChangesOnePageAndItsCount) {
  PageStateTable t(10);
  t.set_range(2, 3, PageState::kInFlight);
  t.set(3, PageState::kFailed);
  EXPECT_EQ(t.get(3), PageState::kFailed);
  EXPECT_EQ(t.count(PageState::kFailed), 1u);
}

TEST(PageStateTable, SetRangeStopsAtTheLastPage) {
  PageStateTable t(10);
  t.set_range(8, 5, PageState::kResident);
  EXPECT_EQ(t.count(PageState::kResident), 2u);
}

}  // namespace
}  // namespace mmapurl::control
