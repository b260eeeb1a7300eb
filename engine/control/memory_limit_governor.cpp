#include "control/memory_limit_governor.hpp"

#include <algorithm>

namespace mmapurl::control {

bool MemoryLimitGovernor::refused(uint64_t in_use, Clock::time_point now) {
  // A refusal also restarts the interval when the limit is already at or under 7/8 of the use
  // (several refusals of one burst): the kernel has just said what it grants.
  last_change_ = now;
  const uint64_t lowered = std::max(kFloor, in_use - in_use / 8);
  if (lowered >= limit_) return false;
  limit_ = lowered;
  return true;
}

bool MemoryLimitGovernor::recover(Clock::time_point now) {
  if (!lowered() || now - last_change_ < kRecoveryInterval) return false;
  limit_ = std::min(configured_, limit_ + std::max<uint64_t>(configured_ / 8, kFloor));
  last_change_ = now;
  return true;
}

}  // namespace mmapurl::control
