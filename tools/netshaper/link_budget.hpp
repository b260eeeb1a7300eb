// What one shaped direction of a connection may hold, and its delay as a clock duration: shared by
// the copying forwarder (ProxiedConnection) and the spliced one, so both model the same link.
#pragma once

#include <chrono>
#include <cstddef>

#include "netshaper/shaping_proxy.hpp"

namespace mmapurl::netshaper {

std::chrono::steady_clock::duration delay_from_ms(double ms);

// Bytes one direction may buffer before it stops reading from the sender. Without a cap:
// everything in flight over the delay, up to max_queued_bytes. With a cap, a real link lets the
// sender run ahead only by what is on the wire (rate × delay) plus the bottleneck's queue (20 ms of
// the rate); buffering more only costs this process memory and CPU the contenders it measures
// pay for.
size_t queue_limit_for(const ShaperOptions& o, double one_way_delay_ms);

}  // namespace mmapurl::netshaper
