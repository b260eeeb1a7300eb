// Tests of the readahead connection rules: when an origin is shown far, how many connections
// readahead may keep busy, and how many it opens before its parts need them.
#include <gtest/gtest.h>

#include "control/open_ahead.hpp"

namespace mmapurl::control {
namespace {

TEST(OpenAhead, OpensForTheNextWindowOfAYoungScan) {
  // One part running, nothing else open: the next window (×4) will want four connections.
  EXPECT_EQ(connections_to_open_ahead(1, 0, 16, 1), 3u);
  // Four parts of the next window running and queued: sixteen.
  EXPECT_EQ(connections_to_open_ahead(2, 2, 16, 4), 12u);
}

TEST(OpenAhead, NeverPastThePrefetchLimit) {
  EXPECT_EQ(connections_to_open_ahead(8, 8, 16, 10), 6u);
  EXPECT_EQ(connections_to_open_ahead(1, 3, 4, 2), 2u);  // a near origin: four at most
  EXPECT_EQ(connections_to_open_ahead(4, 20, 4, 4), 0u);
}

TEST(OpenAhead, NothingWhenEnoughAreOpen) {
  EXPECT_EQ(connections_to_open_ahead(1, 0, 16, 4), 0u);
  EXPECT_EQ(connections_to_open_ahead(1, 0, 16, 9), 0u);
  EXPECT_EQ(connections_to_open_ahead(0, 0, 16, 0), 0u);
}

TEST(OpenAhead, OnlyToAnOriginShownFar) {
  EXPECT_FALSE(origin_shown_far(0, UINT64_MAX));  // nothing known yet
  EXPECT_TRUE(origin_shown_far(1, 20000));        // the probe took a 20 ms round trip
  EXPECT_FALSE(origin_shown_far(1, 3000));        // loopback on a loaded host, maybe
  EXPECT_FALSE(origin_shown_far(2, 3000));
  EXPECT_FALSE(origin_shown_far(3, 3000));  // a near origin's cold first answers, in ASan
  EXPECT_TRUE(origin_shown_far(3, 6000));   // three answers, none within 5 ms
  EXPECT_FALSE(origin_shown_far(9, 150));  // near: the rule of four applies
}

TEST(ReadaheadConnectionLimit, EveryConnectionToAnOriginShownFar) {
  EXPECT_EQ(readahead_connection_limit(16, false, 1, 20000), 16u);
  EXPECT_EQ(readahead_connection_limit(16, true, 1, 20000), 15u);  // one kept for the next fault
  EXPECT_EQ(readahead_connection_limit(2, true, 1, 20000), 2u);    // too few to keep one back
}

TEST(ReadaheadConnectionLimit, AFewUntilTheOriginIsShownFar) {
  EXPECT_EQ(readahead_connection_limit(16, false, 0, UINT64_MAX), kNearPrefetchConnections);
  // Only the probe's answer, 5 ms: loopback on a loaded host, maybe. This opened fifteen.
  EXPECT_EQ(readahead_connection_limit(16, false, 1, 5000), kNearPrefetchConnections);
  EXPECT_EQ(readahead_connection_limit(16, false, 3, 5000), 16u);  // three slow answers: far
  EXPECT_EQ(readahead_connection_limit(16, false, 9, 150), kNearPrefetchConnections);  // near
  EXPECT_EQ(readahead_connection_limit(3, false, 9, 150), 3u);
}

}  // namespace
}  // namespace mmapurl::control
