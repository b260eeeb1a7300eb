// The embedded test server's fault queue (tools/embedded_server/fault_schedule.hpp): rules taken
// in call order, per path, each for its count of requests, and clear() starting a new epoch.
#include <gtest/gtest.h>

#include <cstdint>

#include "embedded_server/fault_schedule.hpp"

namespace mmapurl::testserver {
namespace {

// Rules queue in call order; a request takes the first rule whose path matches and uses one of
// its count; kNone lets its count of requests through first.
TEST(FaultScheduleTest, RulesAreTakenInCallOrderEachForItsCountAndItsPath) {
  FaultSchedule s;
  s.add(Fault::kNone, 1, "");
  s.add(Fault::kStatus503, 2, "");
  s.add(Fault::kReset, 1, "/b");
  EXPECT_EQ(s.take("/a"), Fault::kNone);
  EXPECT_EQ(s.take("/a"), Fault::kStatus503);
  EXPECT_EQ(s.take("/b"), Fault::kStatus503);
  EXPECT_EQ(s.take("/a"), Fault::kNone);
  EXPECT_EQ(s.take("/b"), Fault::kReset);
  EXPECT_EQ(s.take("/b"), Fault::kNone);
}

TEST(FaultScheduleTest, ACountOfMinusOneLastsUntilCleared) {
  FaultSchedule s;
  s.add(Fault::kStall, -1, "");
  EXPECT_EQ(s.take("/a"), Fault::kStall);
  EXPECT_EQ(s.take("/a"), Fault::kStall);
  s.clear();
  EXPECT_EQ(s.take("/a"), Fault::kNone);
}

TEST(FaultScheduleTest, ClearStartsANewEpoch) {
  FaultSchedule s;
  s.add(Fault::kStall, -1, "");
  const uint64_t epoch = s.epoch();
  s.clear();
  EXPECT_NE(s.epoch(), epoch);
}

}  // namespace
}  // namespace mmapurl::testserver
