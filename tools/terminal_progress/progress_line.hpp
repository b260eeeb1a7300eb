// The text of a tool's progress line and closing summary: numbers in, one line out (no I/O;
// ProgressMeter draws them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmapurl::tools {

struct ProgressSample {
  double seconds = 0;   // since the run started
  uint64_t bytes = 0;   // bytes the tool has read (or written) so far
  uint64_t total = 0;   // bytes it expects to, or 0 when it cannot tell
  uint64_t faults = 0;  // the engine's counters since the run started
  uint64_t requests = 0;
  uint64_t in_flight_bytes = 0;  // staging memory of the requests under way now
};

// "512.0 MiB", "3.5 KiB", "17 B": binary units, one decimal.
std::string format_bytes(uint64_t bytes);

// "seq  212.0 MiB / 512.0 MiB  41%  301.2 MB/s  faults 812  requests 57  in flight 24.0 MiB",
// cut to `width` columns (a line longer than the terminal wraps, and '\r' would then redraw only
// its last row). MB/s is 10^6 bytes per second, as uffd-bench's table has it.
std::string progress_line(std::string_view label, const ProgressSample& s, size_t width);

// "seq: 512.0 MiB in 1.70 s, 315.9 MB/s, 1234 faults, 88 requests".
std::string summary_line(std::string_view label, const ProgressSample& s);

}  // namespace mmapurl::tools
