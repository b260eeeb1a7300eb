// RetryPolicy: one table for which failures are tried again, after how long, and which fail the
// whole mapping, at open and after.
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "control/retry_policy.hpp"

namespace {

using mmapurl::control::AttemptFailure;
using mmapurl::control::RetryPhase;
using mmapurl::control::RetryPolicy;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Row {
  RetryPhase phase;
  AttemptFailure failure;
  int attempts_before;
  bool transient;
  bool mapping_wide;
};

class RetryPolicyTable : public testing::TestWithParam<Row> {};

TEST_P(RetryPolicyTable, ClassifiesTheFailure) {
  const Row& r = GetParam();
  EXPECT_EQ(RetryPolicy::transient(r.phase, r.failure, r.attempts_before), r.transient);
  EXPECT_EQ(RetryPolicy::fails_mapping(r.phase, r.failure), r.mapping_wide);
}

const char* name_of(AttemptFailure f) {
  switch (f) {
    case AttemptFailure::kNetwork:
      return "Network";
    case AttemptFailure::kMalformed:
      return "Malformed";
    case AttemptFailure::kTlsVerify:
      return "TlsVerify";
    case AttemptFailure::kCancelled:
      return "Cancelled";
    case AttemptFailure::kStatusTransient:
      return "StatusTransient";
    case AttemptFailure::kStatusPermanent:
      return "StatusPermanent";
    case AttemptFailure::kWrongRange:
      return "WrongRange";
    case AttemptFailure::kChanged:
      return "Changed";
  }
  return "Unknown";
}

std::string row_name(const testing::TestParamInfo<Row>& info) {
  const Row& r = info.param;
  return std::string(r.phase == RetryPhase::kOpen ? "Open" : "Fetch") + name_of(r.failure) +
         "After" + std::to_string(r.attempts_before);
}

// gtest prints a row (and ctest names it) by what it expects.
void PrintTo(const Row& r, std::ostream* os) {
  *os << (r.transient ? "transient" : "not transient") << ", "
      << (r.mapping_wide ? "fails the mapping" : "fails its pages");
}

constexpr auto kOpen = RetryPhase::kOpen;
constexpr auto kFetch = RetryPhase::kFetch;
INSTANTIATE_TEST_SUITE_P(
    Rows, RetryPolicyTable,
    testing::Values(Row{kOpen, AttemptFailure::kNetwork, 0, true, false},
                    Row{kOpen, AttemptFailure::kStatusTransient, 2, true, false},
                    Row{kOpen, AttemptFailure::kMalformed, 0, false, false},
                    Row{kOpen, AttemptFailure::kTlsVerify, 0, false, false},
                    Row{kOpen, AttemptFailure::kStatusPermanent, 0, false, false},
                    Row{kOpen, AttemptFailure::kWrongRange, 0, false, false},
                    Row{kFetch, AttemptFailure::kNetwork, 5, true, false},
                    Row{kFetch, AttemptFailure::kMalformed, 3, true, false},
                    Row{kFetch, AttemptFailure::kWrongRange, 0, true, false},
                    Row{kFetch, AttemptFailure::kWrongRange, 1, false, false},
                    Row{kFetch, AttemptFailure::kTlsVerify, 0, false, false},
                    Row{kFetch, AttemptFailure::kCancelled, 0, false, false},
                    Row{kFetch, AttemptFailure::kStatusTransient, 7, true, false},
                    Row{kFetch, AttemptFailure::kStatusPermanent, 0, false, true},
                    Row{kFetch, AttemptFailure::kChanged, 0, false, true}),
    row_name);

TEST(RetryPolicy, BackoffStartsAtOnceThenDoublesUpToFiveSecondsScaledByJitter) {
  EXPECT_EQ(RetryPolicy::backoff(1, 1.0), RetryPolicy::Clock::duration::zero());
  EXPECT_EQ(RetryPolicy::backoff(2, 1.0), milliseconds(200));
  EXPECT_EQ(RetryPolicy::backoff(3, 0.5), milliseconds(200));
  EXPECT_EQ(RetryPolicy::backoff(7, 1.0), seconds(5));
  EXPECT_EQ(RetryPolicy::backoff(40, 1.0), seconds(5));
}

TEST(RetryPolicy, OpeningTriesFourTimesInsideTheBudget) {
  RetryPolicy p(seconds(30));
  for (int before = 0; before < 3; ++before) {
    EXPECT_TRUE(p.decide(kOpen, AttemptFailure::kNetwork, before, seconds(1), 1.0).retry) << before;
  }
  EXPECT_FALSE(p.decide(kOpen, AttemptFailure::kNetwork, 3, seconds(1), 1.0).retry);
  EXPECT_FALSE(p.decide(kOpen, AttemptFailure::kNetwork, 0, seconds(30), 1.0).retry)
      << "past the budget";
  EXPECT_FALSE(p.decide(kOpen, AttemptFailure::kMalformed, 0, seconds(0), 1.0).retry);
}

TEST(RetryPolicy, FetchingRetriesWhileTheWaitStillEndsInsideTheBudget) {
  RetryPolicy p(seconds(30));
  auto d = p.decide(kFetch, AttemptFailure::kNetwork, 20, seconds(24), 1.0);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay, seconds(5));
  EXPECT_FALSE(p.decide(kFetch, AttemptFailure::kNetwork, 20, seconds(25), 1.0).retry);
  auto gone = p.decide(kFetch, AttemptFailure::kStatusPermanent, 0, seconds(0), 1.0);
  EXPECT_FALSE(gone.retry);
  EXPECT_TRUE(gone.mapping_wide);
}

}  // namespace
