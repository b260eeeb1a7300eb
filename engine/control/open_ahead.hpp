// How many connections the pool opens ahead of readahead: pure arithmetic, unit-tested alone.
// Readahead windows grow ×4 a round trip, and a connection opened only when a part needs it costs
// that part the TCP and TLS handshakes (three round trips far away, where the parts are the whole
// story). So when readahead is submitted, the pool opens connections for the next window at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmapurl::control {

inline constexpr uint32_t kOpenAheadFactor = 4;  // the engine's window growth

// Whether an origin looks far enough to open connections ahead, from the answers seen so far
// (count, and the quickest answer's time to header). One answer of 10 ms or more is a far origin
// (the probe tells, so a scan opens ahead from its first window); a slower answer from a near
// origin on a loaded host (2-10 ms) needs the quickest of three to confirm it, or a near origin
// would open sixteen connections before the rule of four for near origins applies.
inline constexpr uint64_t kFarOriginUs = 10000;
inline constexpr uint64_t kNearOriginUs = 2000;
inline constexpr uint64_t kAnswersToConfirmFar = 3;
bool far_enough_to_open_ahead(uint64_t answers, uint64_t fastest_header_us);

// Connections to open now: kOpenAheadFactor × (exchanges running + queued), at most
// `prefetch_limit`, less those already open or opening.
uint32_t connections_to_open_ahead(uint32_t running, size_t queued, uint32_t prefetch_limit,
                                   size_t open_or_opening);

}  // namespace mmapurl::control
