// See open_ahead.hpp.
#include "control/open_ahead.hpp"

#include <algorithm>

namespace mmapurl::control {

bool far_enough_to_open_ahead(uint64_t answers, uint64_t fastest_header_us) {
  if (answers == 0) return false;
  if (fastest_header_us >= kFarOriginUs) return true;
  return answers >= kAnswersToConfirmFar && fastest_header_us >= kNearOriginUs;
}

uint32_t connections_to_open_ahead(uint32_t running, size_t queued, uint32_t prefetch_limit,
                                   size_t open_or_opening) {
  const uint64_t want =
      std::min<uint64_t>(prefetch_limit, uint64_t{kOpenAheadFactor} * (uint64_t{running} + queued));
  return want > open_or_opening ? static_cast<uint32_t>(want - open_or_opening) : 0;
}

}  // namespace mmapurl::control
