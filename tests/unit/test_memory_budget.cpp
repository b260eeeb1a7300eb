// MemoryBudget: what each use may hold under the limit, what must be freed first, and the part
// and pool caps, all from one place.
#include <gtest/gtest.h>

#include "control/memory_budget.hpp"

namespace {

using mmapurl::control::MemoryBudget;
using mmapurl::control::MemoryUse;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kPage = 4096;
const MemoryBudget::Clock::time_point t0{std::chrono::hours(1)};

TEST(MemoryBudget, ReadaheadLeavesAnEighthForThreadsThatWait) {
  MemoryBudget b(64 * kMiB);
  EXPECT_EQ(b.cap(MemoryUse::kDemand), 64 * kMiB);
  EXPECT_EQ(b.cap(MemoryUse::kReadahead), 56 * kMiB);
}

TEST(MemoryBudget, ExcessIsWhatMustBeFreedBeforeARequestFits) {
  MemoryBudget b(64 * kMiB);
  EXPECT_EQ(b.excess(50 * kMiB, 6 * kMiB, MemoryUse::kReadahead), 0u);
  EXPECT_EQ(b.excess(50 * kMiB, 8 * kMiB, MemoryUse::kReadahead), 2 * kMiB);
  EXPECT_EQ(b.excess(50 * kMiB, 8 * kMiB, MemoryUse::kDemand), 0u);
  EXPECT_EQ(b.excess(70 * kMiB, 1 * kMiB, MemoryUse::kDemand), 7 * kMiB);
  EXPECT_EQ(b.over_limit(70 * kMiB), 6 * kMiB);
  EXPECT_EQ(b.over_limit(60 * kMiB), 0u);
}

TEST(MemoryBudget, PartsAndPooledStagingShrinkWithTheLimit) {
  MemoryBudget big(4096 * kMiB);
  EXPECT_EQ(big.part_bytes(8 * kMiB), 8 * kMiB);
  EXPECT_EQ(big.spare_staging_cap(), MemoryBudget::kMaxSpareStagingBytes);
  MemoryBudget small(16 * kMiB);
  EXPECT_EQ(small.part_bytes(8 * kMiB), 1 * kMiB);
  EXPECT_EQ(small.spare_staging_cap(), 4 * kMiB);
}

TEST(MemoryBudget, ADemandRunOverTheCapTakesThePowerOfTwoThatFitsButAtLeastTheMinimum) {
  MemoryBudget b(64 * kMiB);
  // 3 MiB of room: 768 pages, rounded down to 512.
  EXPECT_EQ(b.demand_pages_that_fit(61 * kMiB, 2048, 4, kPage), 512u);
  EXPECT_EQ(b.demand_pages_that_fit(61 * kMiB, 100, 4, kPage), 100u) << "never more than asked";
  EXPECT_EQ(b.demand_pages_that_fit(64 * kMiB, 2048, 4, kPage), 4u) << "no room: the minimum";
  EXPECT_EQ(b.demand_pages_that_fit(80 * kMiB, 2, 4, kPage), 2u);
}

TEST(MemoryBudget, ARefusalLowersTheLimitAndEveryCapDerivedFromIt) {
  MemoryBudget b(1024 * kMiB);
  EXPECT_TRUE(b.refused(64 * kMiB, t0));
  EXPECT_TRUE(b.lowered());
  EXPECT_EQ(b.limit(), 56 * kMiB);
  EXPECT_EQ(b.cap(MemoryUse::kReadahead), 49 * kMiB);
  EXPECT_EQ(b.part_bytes(8 * kMiB), 56 * kMiB / 16);
  EXPECT_EQ(b.configured(), 1024 * kMiB);
}

TEST(MemoryBudget, ALoweredLimitRisesAgainAfterASecondWithoutARefusal) {
  MemoryBudget b(1024 * kMiB);
  ASSERT_TRUE(b.refused(64 * kMiB, t0));
  EXPECT_FALSE(b.recover(t0 + std::chrono::milliseconds(500)));
  EXPECT_TRUE(b.recover(t0 + std::chrono::seconds(1)));
  EXPECT_EQ(b.limit(), (56 + 128) * kMiB);
}

}  // namespace
