// Tests of connections_to_open_ahead: how many connections readahead opens before its parts.
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
  EXPECT_FALSE(far_enough_to_open_ahead(0, UINT64_MAX));  // nothing known yet
  EXPECT_TRUE(far_enough_to_open_ahead(1, 20000));        // the probe took a 20 ms round trip
  EXPECT_FALSE(far_enough_to_open_ahead(1, 3000));        // loopback on a loaded host, maybe
  EXPECT_FALSE(far_enough_to_open_ahead(2, 3000));
  EXPECT_TRUE(far_enough_to_open_ahead(3, 3000));  // three answers, none within 2 ms
  EXPECT_FALSE(far_enough_to_open_ahead(9, 150));  // near: the rule of four applies
}

}  // namespace
}  // namespace mmapurl::control
