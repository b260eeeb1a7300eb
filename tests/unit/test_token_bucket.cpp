// netshaper's TokenBucket (tools/netshaper/token_bucket.hpp), on an injected clock: paces to its
// rate in small writes, never more than the rate plus one bucket.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>

#include "netshaper/token_bucket.hpp"

namespace mmapurl::netshaper {
namespace {

using Clock = std::chrono::steady_clock;

TEST(NetShaperTokenBucket, PacesToTheRateInSmallSteps) {
  const auto t0 = Clock::now();
  TokenBucket bucket(1e6, t0);  // 1 MB/s: 16 KiB bucket (the floor), 8 KiB quantum
  size_t sent = 0;
  int writes = 0;
  for (auto now = t0; now < t0 + std::chrono::seconds(1); now += std::chrono::milliseconds(1)) {
    const size_t n = bucket.allowance(now, 1 << 20);
    if (n == 0) {
      EXPECT_GT(bucket.ready_at(1 << 20), now);
      continue;
    }
    bucket.consume(n);
    sent += n;
    ++writes;
  }
  // One second of 1 MB/s plus at most the initial bucket, in many small writes.
  EXPECT_GE(sent, 990'000u);
  EXPECT_LE(sent, 1'000'000u + 16 * 1024);
  EXPECT_GE(writes, 50);
}

}  // namespace
}  // namespace mmapurl::netshaper
