// The process's counters as text a metrics scraper reads: Prometheus text format 0.0.4, or
// OpenMetrics 1.0.0. Pure: a Stats value in, a string out (mmapurl_metrics_text does the I/O).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "mmapurl.hpp"

namespace mmapurl::api {

enum class MetricsFormat {
  kPrometheus,   // text/plain; version=0.0.4
  kOpenMetrics,  // application/openmetrics-text; version=1.0.0 (family names without _total,
                 // # UNIT lines, a final "# EOF")
};

// Every counter, gauge and the fault latency histogram of `s`, named mmapurl_*. No labels but
// the histogram's `le`: nothing that could carry a URL, a host or a credential.
std::string format_metrics_text(const Stats& s, MetricsFormat format);

// snprintf's contract for a finished text: writes min(text.size(), len - 1) bytes and a NUL
// when len > 0 (nothing when len == 0, so buf may be null then); returns text.size().
size_t copy_like_snprintf(std::string_view text, char* buf, size_t len);

}  // namespace mmapurl::api
