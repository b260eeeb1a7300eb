// See open_ahead.hpp.
#include "control/open_ahead.hpp"

#include <algorithm>

namespace mmapurl::control {

bool origin_shown_far(uint64_t answers, uint64_t fastest_header_us) {
  if (answers == 0) return false;
  if (fastest_header_us >= kFarOriginUs) return true;
  return answers >= kAnswersToConfirmFar && fastest_header_us >= kNearOriginUs;
}

uint32_t readahead_connection_limit(uint32_t max_connections, bool demand_lately, uint64_t answers,
                                    uint64_t fastest_header_us) {
  uint32_t limit = max_connections > 2 && demand_lately ? max_connections - 1 : max_connections;
  if (!origin_shown_far(answers, fastest_header_us)) {
    limit = std::min(limit, kNearPrefetchConnections);
  }
  return std::max<uint32_t>(1, limit);
}

uint32_t connections_to_open_ahead(uint32_t running, size_t queued, uint32_t prefetch_limit,
                                   size_t open_or_opening) {
  const uint64_t want =
      std::min<uint64_t>(prefetch_limit, uint64_t{kOpenAheadFactor} * (uint64_t{running} + queued));
  return want > open_or_opening ? static_cast<uint32_t>(want - open_or_opening) : 0;
}

}  // namespace mmapurl::control
