// MemoryLimitGovernor: a refusal lowers the limit to 7/8 of what was held (never below the
// floor); each interval without a refusal gives back an eighth of the configured limit, up to it.
#include <gtest/gtest.h>

#include "control/memory_limit_governor.hpp"

namespace {

using mmapurl::control::MemoryLimitGovernor;
using std::chrono::milliseconds;
constexpr uint64_t kMiB = 1ull << 20;
const MemoryLimitGovernor::Clock::time_point t0{std::chrono::hours(1)};

TEST(MemoryLimitGovernor, StartsAtTheConfiguredLimit) {
  MemoryLimitGovernor g(1024 * kMiB);
  EXPECT_EQ(g.limit(), 1024 * kMiB);
  EXPECT_FALSE(g.lowered());
  EXPECT_FALSE(g.recover(t0 + std::chrono::hours(1))) << "nothing to give back";
}

TEST(MemoryLimitGovernor, ARefusalLowersToSevenEighthsOfWhatWasHeld) {
  MemoryLimitGovernor g(1024 * kMiB);
  EXPECT_TRUE(g.refused(24 * kMiB, t0));
  EXPECT_EQ(g.limit(), 21 * kMiB);
  EXPECT_TRUE(g.lowered());
  EXPECT_FALSE(g.refused(32 * kMiB, t0)) << "a refusal above the limit does not raise it";
  EXPECT_EQ(g.limit(), 21 * kMiB);
  EXPECT_TRUE(g.refused(2 * kMiB, t0));
  EXPECT_EQ(g.limit(), MemoryLimitGovernor::kFloor) << "never below the floor";
}

TEST(MemoryLimitGovernor, AnIntervalWithoutARefusalGivesBackAnEighthOfTheConfiguredLimit) {
  MemoryLimitGovernor g(1024 * kMiB);
  g.refused(24 * kMiB, t0);
  EXPECT_FALSE(g.recover(t0 + milliseconds(999)));
  EXPECT_EQ(g.limit(), 21 * kMiB);
  EXPECT_TRUE(g.recover(t0 + milliseconds(1000)));
  EXPECT_EQ(g.limit(), (21 + 128) * kMiB);
  EXPECT_FALSE(g.recover(t0 + milliseconds(1500))) << "one step an interval";
  for (int s = 2; s <= 9; ++s) g.recover(t0 + std::chrono::seconds(s));
  EXPECT_EQ(g.limit(), 1024 * kMiB) << "up to the configured limit, not past it";
  EXPECT_FALSE(g.lowered());
}

TEST(MemoryLimitGovernor, ARefusalRestartsTheInterval) {
  MemoryLimitGovernor g(64 * kMiB);
  g.refused(24 * kMiB, t0);
  g.refused(40 * kMiB, t0 + milliseconds(800));  // the same burst: no change, but the kernel said
  EXPECT_FALSE(g.recover(t0 + milliseconds(1500)));
  EXPECT_TRUE(g.recover(t0 + milliseconds(1800)));
  EXPECT_EQ(g.limit(), (21 + 8) * kMiB);
}

TEST(MemoryLimitGovernor, ASmallConfiguredLimitStepsByTheFloor) {
  MemoryLimitGovernor g(16 * kMiB);
  g.refused(8 * kMiB, t0);
  EXPECT_EQ(g.limit(), 7 * kMiB);
  EXPECT_TRUE(g.recover(t0 + std::chrono::seconds(1)));
  EXPECT_EQ(g.limit(), 11 * kMiB) << "an eighth of 16 MiB is less than the floor's 4 MiB step";
}

}  // namespace
