// MemoryLimitGovernor: the memory limit the engine keeps (MMAPURL_MEMORY_LIMIT: resident pages,
// staging in flight, pooled buffers) when the kernel may grant less. Pure arithmetic over the
// times it is given: no clock, no I/O, unit-tested alone.
//
// A refusal (ENOMEM from UFFDIO_COPY or from populating a staging buffer: a memory cgroup with its
// OOM killer off at its limit) lowers the limit to 7/8 of what the engine held, never below the
// floor. A lowered limit used to stay so for the life of the process: a moment of memory
// pressure (the program's own allocations, a group resized down and up again) left the engine at
// a few MiB for good. Now each interval without a refusal gives back an eighth of the configured
// limit, up to it: where the kernel still grants less, the next refusal lowers it again, so the
// engine meets the group's limit at most once an interval.
#pragma once

#include <chrono>
#include <cstdint>

namespace mmapurl::control {

class MemoryLimitGovernor {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kFloor = 4ull << 20;
  static constexpr Clock::duration kRecoveryInterval = std::chrono::seconds(1);

  MemoryLimitGovernor() = default;
  explicit MemoryLimitGovernor(uint64_t configured) : configured_(configured), limit_(configured) {}

  uint64_t limit() const { return limit_; }
  uint64_t configured() const { return configured_; }
  bool lowered() const { return limit_ < configured_; }

  // The kernel refused memory with `in_use` bytes held at `now`. True when the limit dropped.
  bool refused(uint64_t in_use, Clock::time_point now);
  // True when the limit rose at `now`: lowered, and a whole interval since the last change.
  bool recover(Clock::time_point now);

 private:
  uint64_t configured_ = 1ull << 30;
  uint64_t limit_ = 1ull << 30;
  Clock::time_point last_change_{};
};

}  // namespace mmapurl::control
