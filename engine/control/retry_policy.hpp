// RetryPolicy: which failed attempts are tried again, after how long, and which fail a whole
// mapping. One table for opening a mapping and for fetching its pages. Pure: times and the
// jitter are given, unit-tested alone.
#pragma once

#include <chrono>
#include <cstdint>

namespace mmapurl::control {

// What went wrong with one attempt (one request).
enum class AttemptFailure {
  kNetwork,          // connection refused or reset, timeout, body cut short
  kMalformed,        // an answer that breaks HTTP, or one the engine refused while reading it
  kTlsVerify,        // the server's certificate was refused
  kCancelled,        // the engine dropped the request itself
  kStatusTransient,  // 5xx, 429, throttling: the server asks to come back
  kStatusPermanent,  // 403, 404, 412, …: the object is gone, changed or forbidden
  kWrongRange,       // a 2xx with other bytes than asked for (Content-Range, length)
  kChanged,          // the object's validators changed: another snapshot
};

// Before the mapping exists nothing waits on a page yet, and a clear error code is worth more
// than a retry; after it, every page of the object must still arrive if it can.
enum class RetryPhase { kOpen, kFetch };

struct RetryDecision {
  bool retry = false;
  bool mapping_wide = false;  // a permanent failure that fails every missing page of the mapping
  std::chrono::steady_clock::duration delay{};
};

class RetryPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  // Opening tries at most this many times (the first included).
  static constexpr int kMaxOpenAttempts = 4;

  RetryPolicy() = default;
  explicit RetryPolicy(Clock::duration budget) : budget_(budget) {}

  // Whether failure `f` is worth another attempt at all, and whether it fails the mapping.
  // `attempts_before` is how many attempts failed before this one.
  static bool transient(RetryPhase phase, AttemptFailure f, int attempts_before);
  static bool fails_mapping(RetryPhase phase, AttemptFailure f);

  // The whole decision for a failure after `attempts_before` earlier failures, `elapsed` since
  // the first attempt; `jitter` is drawn uniformly from [0.5, 1).
  RetryDecision decide(RetryPhase phase, AttemptFailure f, int attempts_before,
                       Clock::duration elapsed, double jitter) const;

  // The wait before attempt number `attempt` (1: the first retry). The first retry goes at once:
  // the usual cause is a keep-alive connection the server had just closed.
  static Clock::duration backoff(int attempt, double jitter);

 private:
  Clock::duration budget_ = std::chrono::seconds(30);
};

}  // namespace mmapurl::control
