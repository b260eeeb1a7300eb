// How many connections the pool opens ahead of readahead: pure arithmetic, unit-tested alone.
// Readahead windows grow ×4 a round trip, and a connection opened only when a part needs it costs
// that part the TCP and TLS handshakes (three round trips far away, where the parts are the whole
// story). So when readahead is submitted, the pool opens connections for the next window at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmapurl::control {

inline constexpr uint32_t kOpenAheadFactor = 4;  // the engine's window growth

// Whether the answers seen so far (count, and the quickest answer's time to header) show a far
// origin, one whose readahead may use every connection and open them ahead. One answer of 10 ms
// or more is a far origin (the probe tells, so a scan opens ahead from its first window); an
// answer of 5-10 ms needs the quickest of three to confirm it. A near origin's first answers come
// slow on a loaded host or a sanitizer build (cold code, a busy engine: 1.4-2.5 ms from loopback
// nginx in ASan, where later ones took 0.4 ms), and with a 2 ms bound three of them opened sixteen
// connections before the rule of four for near origins applied (CI). An origin 2-5 ms away keeps
// the rule of four: a connection there still carries a 1 MiB part in a few round trips.
inline constexpr uint64_t kFarOriginUs = 10000;
inline constexpr uint64_t kNearOriginUs = 5000;
inline constexpr uint64_t kAnswersToConfirmFar = 3;
bool origin_shown_far(uint64_t answers, uint64_t fastest_header_us);

// Connections readahead may keep busy: all of `max_connections`, but one fewer while a thread
// waited on this origin lately (`demand_lately`: a random reader's next fault finds it free), and
// at most kNearPrefetchConnections until the answers show a far origin. Near (loopback, the same
// host or rack) a connection is bound by CPU, not by the round trip: a 256 MiB scan from loopback
// nginx ran as fast on 4 connections as on 16, and through a pass-through proxy at 750 against
// 490 MB/s. Not yet shown far counts as near: with only the probe's 2-10 ms answer of a loaded
// host, a near scan's first window went out on fifteen connections (CI).
inline constexpr uint32_t kNearPrefetchConnections = 4;
uint32_t readahead_connection_limit(uint32_t max_connections, bool demand_lately, uint64_t answers,
                                    uint64_t fastest_header_us);

// Connections to open now: kOpenAheadFactor × (exchanges running + queued), at most
// `prefetch_limit`, less those already open or opening.
uint32_t connections_to_open_ahead(uint32_t running, size_t queued, uint32_t prefetch_limit,
                                   size_t open_or_opening);

}  // namespace mmapurl::control
