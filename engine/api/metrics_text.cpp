// Formats Stats as Prometheus / OpenMetrics text. The histogram's bounds come from the engine's
// log2 buckets (Counters::record_latency): bucket 0 is [0, 2) µs, bucket i is [2^i, 2^(i+1)) µs,
// the last one is open-ended, so it only shows in le="+Inf".
#include "api/metrics_text.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>

namespace mmapurl::api {

namespace {

enum class Kind { kCounter, kGauge };

struct Scalar {
  const char* name;  // the family name: counters get "_total" on their sample
  Kind kind;
  const char* unit;  // OpenMetrics # UNIT (the name ends with it), or "" for none
  const char* help;
  uint64_t Stats::*field;
};

// Order: what a reader looks at first. HELP texts contain no '\\' or newline (no escaping).
constexpr Scalar kScalars[] = {
    {"mmapurl_faults", Kind::kCounter, "", "Missing-page faults the engine served.",
     &Stats::faults},
    {"mmapurl_prefetch_hits", Kind::kCounter, "",
     "Faults on pages already in flight or prefetched.", &Stats::prefetch_hits},
    {"mmapurl_requests", Kind::kCounter, "",
     "Ranged GETs completed, each mapping's first probe included.", &Stats::requests},
    {"mmapurl_retries", Kind::kCounter, "", "Requests retried after a transient failure.",
     &Stats::retries},
    {"mmapurl_fetched_bytes", Kind::kCounter, "bytes", "Body bytes received from origins.",
     &Stats::bytes_fetched},
    {"mmapurl_evicted_pages", Kind::kCounter, "", "Pages dropped to stay within the memory limit.",
     &Stats::evictions},
    {"mmapurl_failed_pages", Kind::kCounter, "",
     "Pages whose fetch failed for good: touching them raises SIGBUS.", &Stats::failed_pages},
    {"mmapurl_staging_buffers_mapped", Kind::kCounter, "",
     "Staging buffers mapped afresh instead of taken from the pool.",
     &Stats::staging_buffers_mapped},
    {"mmapurl_cache_filled_pages", Kind::kCounter, "",
     "Pages filled from the disk cache instead of the network.", &Stats::cache_filled_pages},
    {"mmapurl_resident_bytes", Kind::kGauge, "bytes", "Filled pages held in memory now.",
     &Stats::resident_bytes},
    {"mmapurl_in_flight_bytes", Kind::kGauge, "bytes",
     "Staging memory of the requests under way now.", &Stats::in_flight_bytes},
    {"mmapurl_cached_bytes", Kind::kGauge, "bytes",
     "Bytes the disk cache files of the live mappings hold now.", &Stats::cached_bytes},
    {"mmapurl_connections", Kind::kGauge, "",
     "Connection slots in the engine's keep-alive pools, all origins.", &Stats::connections},
    {"mmapurl_max_requests_in_flight", Kind::kGauge, "",
     "Most requests in flight at once since the engine started.", &Stats::max_requests_in_flight},
};

constexpr const char* kLatencyName = "mmapurl_fault_latency_seconds";
constexpr const char* kLatencyHelp =
    "Time from a missing-page fault to its fill. Buckets and _count are exact; _sum is estimated "
    "from bucket midpoints (the engine keeps no exact sum).";

void append_u64(std::string* out, uint64_t v) { *out += std::to_string(v); }

// An integer number of microseconds as seconds, exactly: "0.000002", "4294.967296", "3".
void append_us_as_seconds(std::string* out, uint64_t us) {
  append_u64(out, us / 1000000);
  uint64_t frac = us % 1000000;
  if (frac == 0) return;
  char digits[8];
  std::snprintf(digits, sizeof digits, "%06llu", static_cast<unsigned long long>(frac));
  size_t n = std::strlen(digits);
  while (n > 0 && digits[n - 1] == '0') --n;
  *out += '.';
  out->append(digits, n);
}

void append_header(std::string* out, const char* family, const char* type, const char* unit,
                   const char* help, MetricsFormat format) {
  // Prometheus 0.0.4 names a counter's family by its sample (with _total); OpenMetrics by the
  // name without it, and refuses the other spelling as a clash.
  std::string name = family;
  if (format == MetricsFormat::kPrometheus && std::strcmp(type, "counter") == 0) name += "_total";
  *out += "# HELP " + name + " " + help + "\n";
  *out += "# TYPE " + name + " " + type + "\n";
  if (format == MetricsFormat::kOpenMetrics && *unit) *out += "# UNIT " + name + " " + unit + "\n";
}

// Saturating: a sum past 2^64 µs (half a million years of faults) stays at the maximum.
uint64_t add_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}
uint64_t mul_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}

void append_latency_histogram(std::string* out, const Stats& s, MetricsFormat format) {
  append_header(out, kLatencyName, "histogram", "seconds", kLatencyHelp, format);
  const auto& buckets = s.fault_latency_us_log2;
  const size_t last = std::size(buckets) - 1;  // open-ended: counted only under +Inf
  uint64_t cumulative = 0;
  uint64_t sum_us = 0;
  for (size_t i = 0; i < std::size(buckets); ++i) {
    cumulative = add_sat(cumulative, buckets[i]);
    // Midpoint of [0, 2) is 1 µs; of [2^i, 2^(i+1)) it is 3 * 2^(i-1); the open-ended last
    // bucket is taken at the same 1.5 times its lower bound.
    uint64_t midpoint_us = i == 0 ? 1 : uint64_t{3} << (i - 1);
    sum_us = add_sat(sum_us, mul_sat(buckets[i], midpoint_us));
    if (i == last) break;
    *out += std::string(kLatencyName) + "_bucket{le=\"";
    append_us_as_seconds(out, uint64_t{1} << (i + 1));
    *out += "\"} ";
    append_u64(out, cumulative);
    *out += '\n';
  }
  *out += std::string(kLatencyName) + "_bucket{le=\"+Inf\"} ";
  append_u64(out, cumulative);
  *out += '\n';
  *out += std::string(kLatencyName) + "_sum ";
  append_us_as_seconds(out, sum_us);
  *out += '\n';
  *out += std::string(kLatencyName) + "_count ";
  append_u64(out, cumulative);
  *out += '\n';
}

}  // namespace

std::string format_metrics_text(const Stats& s, MetricsFormat format) {
  std::string out;
  out.reserve(6144);
  for (const Scalar& m : kScalars) {
    const bool counter = m.kind == Kind::kCounter;
    append_header(&out, m.name, counter ? "counter" : "gauge", m.unit, m.help, format);
    out += m.name;
    if (counter) out += "_total";
    out += ' ';
    append_u64(&out, s.*m.field);
    out += '\n';
  }
  append_latency_histogram(&out, s, format);
  if (format == MetricsFormat::kOpenMetrics) out += "# EOF\n";
  return out;
}

size_t copy_like_snprintf(std::string_view text, char* buf, size_t len) {
  if (len > 0 && buf) {
    size_t n = text.size() < len ? text.size() : len - 1;
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return text.size();
}

}  // namespace mmapurl::api
