// TokenBucket: paces one direction of one connection to a byte rate, in small smooth steps
// (a ~10 ms bucket) rather than one-second bursts.
#pragma once

#include <chrono>
#include <cstddef>

namespace mmapurl::netshaper {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // bytes_per_second <= 0: unlimited.
  TokenBucket(double bytes_per_second, Clock::time_point now);

  bool unlimited() const { return rate_ <= 0; }
  // Bytes that may be sent now, at most `wanted`; 0 means wait until ready_at(wanted).
  // Waits for at least a quantum of tokens so a slow rate does not degrade into tiny writes.
  size_t allowance(Clock::time_point now, size_t wanted);
  void consume(size_t n);
  Clock::time_point ready_at(size_t wanted) const;

 private:
  void refill(Clock::time_point now);
  size_t min_send(size_t wanted) const;

  double rate_;     // bytes per second
  double burst_;    // bucket depth in bytes
  double quantum_;  // smallest paced write
  double tokens_;
  Clock::time_point last_;
};

}  // namespace mmapurl::netshaper
