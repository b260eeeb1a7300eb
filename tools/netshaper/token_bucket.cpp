// TokenBucket: paces one direction of one connection to a byte rate, in small smooth steps
// (a ~10 ms bucket) rather than one-second bursts.
#include "netshaper/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace mmapurl::netshaper {

TokenBucket::TokenBucket(double bytes_per_second, Clock::time_point now)
    : rate_(bytes_per_second), last_(now) {
  // 10 ms worth of bytes keeps pacing smooth; the floor avoids sub-MSS writes at low rates.
  burst_ = unlimited() ? 0 : std::clamp(rate_ * 0.010, 16.0 * 1024, 8.0 * 1024 * 1024);
  quantum_ = burst_ / 2;
  tokens_ = burst_;
}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

size_t TokenBucket::min_send(size_t wanted) const {
  return std::min(wanted, static_cast<size_t>(quantum_));
}

size_t TokenBucket::allowance(Clock::time_point now, size_t wanted) {
  if (unlimited()) return wanted;
  refill(now);
  if (tokens_ < static_cast<double>(min_send(wanted))) return 0;
  return std::min(wanted, static_cast<size_t>(tokens_));
}

void TokenBucket::consume(size_t n) {
  if (!unlimited()) tokens_ -= static_cast<double>(n);
}

TokenBucket::Clock::time_point TokenBucket::ready_at(size_t wanted) const {
  if (unlimited()) return last_;
  const double missing = static_cast<double>(min_send(wanted)) - tokens_;
  if (missing <= 0) return last_;
  const auto wait = std::chrono::duration<double>(missing / rate_);
  return last_ + std::chrono::ceil<Clock::duration>(wait);
}

}  // namespace mmapurl::netshaper
