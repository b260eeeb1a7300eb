#include "control/memory_budget.hpp"

#include <algorithm>

namespace mmapurl::control {

uint64_t MemoryBudget::cap(MemoryUse use) const {
  const uint64_t l = limit();
  return use == MemoryUse::kDemand ? l : l - l / kDemandReserveDivisor;
}

uint64_t MemoryBudget::excess(uint64_t in_use, uint64_t bytes, MemoryUse use) const {
  const uint64_t c = cap(use);
  return in_use + bytes > c ? in_use + bytes - c : 0;
}

uint64_t MemoryBudget::part_bytes(uint64_t configured_part_bytes) const {
  return std::min(configured_part_bytes, limit() / kPartShareDivisor);
}

uint64_t MemoryBudget::spare_staging_cap() const {
  return std::min(kMaxSpareStagingBytes, limit() / 4);
}

uint64_t MemoryBudget::demand_pages_that_fit(uint64_t in_use, uint64_t run, uint64_t min_pages,
                                             uint64_t page_size) const {
  const uint64_t c = cap(MemoryUse::kDemand);
  uint64_t room = in_use < c ? (c - in_use) / page_size : 0;
  // A power of two, so that the staging buffer's size class fits as well.
  if (room > 0) room = uint64_t{1} << (63 - __builtin_clzll(room));
  return std::max(std::min(run, room), std::min(run, min_pages));
}

}  // namespace mmapurl::control
