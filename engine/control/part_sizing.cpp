// Cutting fetch ranges into ranged GETs (see part_sizing.hpp).
#include "control/part_sizing.hpp"

#include <algorithm>

#include "base/page_size.hpp"

namespace mmapurl::control {

uint64_t part_pages_for(uint64_t range_pages, bool demand, const PartSizing& sizing) {
  const uint64_t cap = std::max<uint64_t>(1, sizing.max_part_pages);
  if (demand || sizing.connections <= 1) return cap;
  const uint64_t floor = std::clamp<uint64_t>(sizing.min_part_pages, 1, cap);
  const uint64_t per_connection = (range_pages + sizing.connections - 1) / sizing.connections;
  return std::clamp(per_connection, floor, cap);
}

uint64_t readahead_window_cap_bytes(uint64_t memory_limit, uint64_t max_readahead_bytes) {
  constexpr uint64_t kPage = base::kPageSize;
  const uint64_t cap = std::min(memory_limit / 4, max_readahead_bytes) / kPage * kPage;
  return std::max(cap, kPage);
}

}  // namespace mmapurl::control
