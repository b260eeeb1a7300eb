#include "control/retry_policy.hpp"

#include <algorithm>

namespace mmapurl::control {

bool RetryPolicy::transient(RetryPhase phase, AttemptFailure f, int attempts_before) {
  switch (f) {
    case AttemptFailure::kNetwork:
    case AttemptFailure::kStatusTransient:
      return true;
    case AttemptFailure::kMalformed:
      // At open the answer is the error (its code says why: no length, no body, …); a mapped
      // page's answer cut or mangled on the way is one more request away from right.
      return phase == RetryPhase::kFetch;
    case AttemptFailure::kWrongRange:
      // A server that answers a range wrongly once may be a confused proxy: one more try.
      return phase == RetryPhase::kFetch && attempts_before == 0;
    case AttemptFailure::kTlsVerify:
    case AttemptFailure::kCancelled:
    case AttemptFailure::kStatusPermanent:
    case AttemptFailure::kChanged:
      return false;
  }
  return false;
}

bool RetryPolicy::fails_mapping(RetryPhase phase, AttemptFailure f) {
  // After mapping, a 404/403/412 or changed validators mean the snapshot is gone: no later page
  // of it can be right.
  return phase == RetryPhase::kFetch &&
         (f == AttemptFailure::kStatusPermanent || f == AttemptFailure::kChanged);
}

RetryDecision RetryPolicy::decide(RetryPhase phase, AttemptFailure f, int attempts_before,
                                  Clock::duration elapsed, double jitter) const {
  RetryDecision d;
  d.mapping_wide = fails_mapping(phase, f);
  if (!transient(phase, f, attempts_before)) return d;
  const int attempt = attempts_before + 1;
  d.delay = backoff(attempt, jitter);
  if (phase == RetryPhase::kOpen) {
    // The caller of mmap_s3 waits: a bounded number of attempts inside the budget.
    d.retry = attempt < kMaxOpenAttempts && elapsed < budget_;
  } else {
    // A thread's page: as many attempts as fit in the budget, the wait included.
    d.retry = elapsed + d.delay < budget_;
  }
  return d;
}

RetryPolicy::Clock::duration RetryPolicy::backoff(int attempt, double jitter) {
  if (attempt <= 1) return Clock::duration::zero();
  const double base = std::min(5.0, 0.1 * static_cast<double>(1 << std::min(attempt - 1, 10)));
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(base * jitter));
}

}  // namespace mmapurl::control
