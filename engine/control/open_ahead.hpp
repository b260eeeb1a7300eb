// How many connections the pool opens ahead of readahead: pure arithmetic, unit-tested alone.
// Readahead windows grow ×4 a round trip, and a connection opened only when a part needs it costs
// that part the TCP and TLS handshakes (three round trips far away, where the parts are the whole
// story). So when readahead is submitted, the pool opens connections for the next window at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmapurl::control {

inline constexpr uint32_t kOpenAheadFactor = 4;  // the engine's window growth

// Connections to open now: kOpenAheadFactor × (exchanges running + queued), at most
// `prefetch_limit`, less those already open or opening.
uint32_t connections_to_open_ahead(uint32_t running, size_t queued, uint32_t prefetch_limit,
                                   size_t open_or_opening);

}  // namespace mmapurl::control
