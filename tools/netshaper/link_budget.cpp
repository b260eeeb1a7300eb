// What one shaped direction of a connection may hold, and its delay as a clock duration.
#include "netshaper/link_budget.hpp"

#include <algorithm>

namespace mmapurl::netshaper {
namespace {

// With a bandwidth cap, what waits beyond the delay line: a bottleneck link's queue, here 20 ms
// of the capped rate.
constexpr double kBottleneckQueueSeconds = 0.020;
// Room for a forwarder's reads in flight on top of what the link holds.
constexpr size_t kReadSlack = 512 * 1024;

}  // namespace

std::chrono::steady_clock::duration delay_from_ms(double ms) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(std::max(0.0, ms)));
}

size_t queue_limit_for(const ShaperOptions& o, double one_way_delay_ms) {
  if (o.conn_mbps <= 0) return o.max_queued_bytes;
  const double rate = o.conn_mbps * 1e6;
  const double on_the_way =
      rate * (std::max(0.0, one_way_delay_ms) / 1000.0 + kBottleneckQueueSeconds);
  return std::min(o.max_queued_bytes, static_cast<size_t>(on_the_way) + kReadSlack);
}

}  // namespace mmapurl::netshaper
