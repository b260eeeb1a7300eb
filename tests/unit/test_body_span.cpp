// next_body_span: where the HTTP client writes the next body bytes, in a linear buffer and in a
// staging ring that must never overwrite bytes the consumer has not filled into pages yet.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "net/http_types.hpp"

namespace mmapurl::net {
namespace {

TEST(BodySpan, LinearTargetTakesWhatIsLeftUpToMax) {
  std::vector<uint8_t> buf(100);
  BodyTarget t{buf.data(), 100};
  BodySpan s = next_body_span(t, 0, 0, 64);
  EXPECT_EQ(s.data, buf.data());
  EXPECT_EQ(s.len, 64u);
  s = next_body_span(t, 64, 0, 64);  // consumption does not matter without a ring
  EXPECT_EQ(s.data, buf.data() + 64);
  EXPECT_EQ(s.len, 36u);
  EXPECT_EQ(next_body_span(t, 100, 0, 64).len, 0u);
}

TEST(BodySpan, RingStopsAtItsEndAndWrapsToTheStart) {
  std::vector<uint8_t> ring(16);
  BodyTarget t{ring.data(), 100, 16, 8};
  BodySpan s = next_body_span(t, 0, 0, 64);
  EXPECT_EQ(s.data, ring.data() + 8);
  EXPECT_EQ(s.len, 8u) << "stops where the ring ends";
  s = next_body_span(t, 8, 8, 64);
  EXPECT_EQ(s.data, ring.data());
  EXPECT_EQ(s.len, 16u) << "wraps, and all 16 bytes are free once 8 were consumed";
}

TEST(BodySpan, RingNeverRunsOverUnconsumedBytes) {
  std::vector<uint8_t> ring(16);
  BodyTarget t{ring.data(), 100, 16, 0};
  EXPECT_EQ(next_body_span(t, 16, 0, 64).len, 0u) << "a full ring waits for the consumer";
  BodySpan s = next_body_span(t, 16, 4, 64);
  EXPECT_EQ(s.data, ring.data());
  EXPECT_EQ(s.len, 4u);
  s = next_body_span(t, 20, 12, 64);
  EXPECT_EQ(s.data, ring.data() + 4);
  EXPECT_EQ(s.len, 8u);
}

TEST(BodySpan, RingNeverPassesTheBodyEnd) {
  std::vector<uint8_t> ring(16);
  BodyTarget t{ring.data(), 20, 16, 0};
  EXPECT_EQ(next_body_span(t, 16, 16, 64).len, 4u);
  EXPECT_EQ(next_body_span(t, 20, 20, 64).len, 0u);
  // A consumer that reports more than was received (a page rounded up) frees nothing extra.
  EXPECT_EQ(next_body_span(t, 16, 4096, 64).len, 4u);
}

// Streams a body through a small ring with a consumer that lags, and checks every byte arrives
// where the consumer reads it.
TEST(BodySpan, StreamedBodyArrivesIntactThroughASmallRing) {
  std::vector<uint8_t> body(1000);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i * 7 + 3);
  std::vector<uint8_t> ring(64), out;
  BodyTarget t{ring.data(), body.size(), ring.size(), 40};
  uint64_t received = 0, consumed = 0;
  while (consumed < body.size()) {
    BodySpan s = next_body_span(t, received, consumed, 24);
    std::memcpy(s.data, body.data() + received, s.len);
    received += s.len;
    // The consumer takes at most 10 bytes per step, so the ring fills up now and then.
    uint64_t take = std::min<uint64_t>(10, received - consumed);
    for (uint64_t i = 0; i < take; ++i) out.push_back(ring[(40 + consumed + i) % ring.size()]);
    consumed += take;
  }
  EXPECT_EQ(out, body);
}

}  // namespace
}  // namespace mmapurl::net
