// Token bucket that paces one connection's writes to a byte rate (ServerOptions::conn_mbps),
// so tests can emulate a bandwidth-limited origin without touching the network stack.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace mmapurl::testserver {

class SendPacer {
 public:
  using Clock = std::chrono::steady_clock;

  // megabytes_per_s <= 0 disables pacing. 1 MB = 10^6 bytes.
  explicit SendPacer(double megabytes_per_s)
      : rate_(megabytes_per_s > 0 ? megabytes_per_s * 1e6 : 0),
        burst_(std::clamp(rate_ * 0.01, 16.0 * 1024, 1024.0 * 1024)),
        tokens_(burst_),
        last_(Clock::now()) {}

  bool enabled() const { return rate_ > 0; }

  // Largest write worth pacing as one piece (one burst).
  size_t max_piece() const { return static_cast<size_t>(burst_); }

  // Books n bytes and says how long to wait before sending them. The bucket may go into debt,
  // so the long-run rate stays exact whatever the piece sizes.
  std::chrono::nanoseconds reserve(size_t n) {
    if (!enabled()) return std::chrono::nanoseconds(0);
    const Clock::time_point now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_) - static_cast<double>(n);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<long long>(-tokens_ / rate_ * 1e9));
  }

 private:
  double rate_;   // bytes per second
  double burst_;  // bucket capacity in bytes
  double tokens_;
  Clock::time_point last_;
};

}  // namespace mmapurl::testserver
