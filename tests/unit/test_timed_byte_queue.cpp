// netshaper's TimedByteQueue (tools/netshaper/timed_byte_queue.hpp): bytes leave in order, only
// once due, capped by what the caller asks for.
#include <gtest/gtest.h>
#include <sys/uio.h>

#include <chrono>
#include <vector>

#include "netshaper/timed_byte_queue.hpp"

namespace mmapurl::netshaper {
namespace {

using Clock = std::chrono::steady_clock;

TEST(NetShaperTimedByteQueue, DeliversOnlyWhatIsDueInOrder) {
  TimedByteQueue q;
  const auto t0 = Clock::now();
  q.push(std::vector<char>{'a', 'b', 'c'}, 3, t0);
  q.push(std::vector<char>{'d', 'e', 'x'}, 2, t0 + std::chrono::milliseconds(10));
  EXPECT_EQ(q.bytes(), 5u);
  ASSERT_EQ(q.front_due(t0).size(), 3u);
  iovec iov[4];
  ASSERT_EQ(q.gather_due(t0, 100, iov, 4), 1u);  // the second chunk is not due yet
  EXPECT_EQ(iov[0].iov_len, 3u);
  q.consume(2);
  EXPECT_EQ(q.front_due(t0)[0], 'c');
  ASSERT_EQ(q.gather_due(t0 + std::chrono::milliseconds(10), 2, iov, 4), 2u);
  EXPECT_EQ(iov[0].iov_len, 1u);
  EXPECT_EQ(iov[1].iov_len, 1u);  // capped by max_bytes; the 'x' past length never shows
  q.consume(3);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

}  // namespace
}  // namespace mmapurl::netshaper
