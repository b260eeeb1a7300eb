// MemoryBudget: the one owner of MMAPURL_MEMORY_LIMIT's arithmetic (resident pages, staging in
// flight, pooled staging). It says how much each use may hold, how much must be freed before a
// request fits, and how large a part may be; the caller frees (evicts, trims) and counts. Pure:
// no clock, no I/O, unit-tested alone.
#pragma once

#include <cstdint>

#include "control/memory_limit_governor.hpp"

namespace mmapurl::control {

enum class MemoryUse {
  kDemand,     // a thread waits on these pages: the whole limit
  kReadahead,  // readahead and the background download: all but the reserve
};

class MemoryBudget {
 public:
  using Clock = MemoryLimitGovernor::Clock;
  // What threads waiting on a page may still take when readahead is at its cap: an eighth.
  static constexpr uint64_t kDemandReserveDivisor = 8;
  // A part holds at most this share of the limit, so one request never holds much of it.
  static constexpr uint64_t kPartShareDivisor = 16;
  // Pooled staging buffers hold at most a quarter of the limit, and never more than this.
  static constexpr uint64_t kMaxSpareStagingBytes = 128ull << 20;

  MemoryBudget() = default;
  explicit MemoryBudget(uint64_t configured) : governor_(configured) {}

  // The limit in force: the configured one unless the kernel refused memory (ENOMEM).
  uint64_t limit() const { return governor_.limit(); }
  uint64_t configured() const { return governor_.configured(); }
  bool lowered() const { return governor_.lowered(); }

  uint64_t cap(MemoryUse use) const;
  // Bytes to free before `bytes` more fit under the cap of `use` while `in_use` is held.
  uint64_t excess(uint64_t in_use, uint64_t bytes, MemoryUse use) const;
  // Bytes held over the limit itself (what a fill that just landed must give back).
  uint64_t over_limit(uint64_t in_use) const { return in_use > limit() ? in_use - limit() : 0; }
  // The largest GET part: MMAPURL_PART_SIZE, shrunk under a small limit.
  uint64_t part_bytes(uint64_t configured_part_bytes) const;
  uint64_t spare_staging_cap() const;
  // A thread waits but its whole run does not fit: the largest power of two of pages that fits
  // under the limit, at least `min_pages`, at most `run`.
  uint64_t demand_pages_that_fit(uint64_t in_use, uint64_t run, uint64_t min_pages,
                                 uint64_t page_size) const;

  // The kernel refused memory with `in_use` held; true when the limit dropped.
  bool refused(uint64_t in_use, Clock::time_point now) { return governor_.refused(in_use, now); }
  // True when a lowered limit rose at `now`.
  bool recover(Clock::time_point now) { return governor_.recover(now); }

 private:
  MemoryLimitGovernor governor_;
};

}  // namespace mmapurl::control
