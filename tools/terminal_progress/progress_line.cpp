// Progress and summary text for uffd-bench and mmapurl-cat.
#include "terminal_progress/progress_line.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace mmapurl::tools {

namespace {
std::string printf_string(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, a);
  return buf;
}

double mb_per_s(const ProgressSample& s) {
  return s.seconds > 0 ? static_cast<double>(s.bytes) / 1e6 / s.seconds : 0;
}
}  // namespace

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  return printf_string("%.1f ", v) + kUnits[unit];
}

std::string progress_line(std::string_view label, const ProgressSample& s, size_t width) {
  std::string line(label);
  line += "  " + format_bytes(s.bytes);
  if (s.total > 0) {
    line += " / " + format_bytes(s.total);
    double pct =
        100.0 * static_cast<double>(std::min(s.bytes, s.total)) / static_cast<double>(s.total);
    line += printf_string("  %.0f%%", pct);
  }
  line += printf_string("  %.1f MB/s", mb_per_s(s));
  line += "  faults " + std::to_string(s.faults);
  line += "  requests " + std::to_string(s.requests);
  line += "  in flight " + format_bytes(s.in_flight_bytes);
  if (line.size() > width) line.resize(width);
  return line;
}

std::string summary_line(std::string_view label, const ProgressSample& s) {
  std::string line(label);
  line += ": " + format_bytes(s.bytes) + printf_string(" in %.2f s", s.seconds);
  line += printf_string(", %.1f MB/s", mb_per_s(s));
  line += ", " + std::to_string(s.faults) + " faults, " + std::to_string(s.requests) + " requests";
  return line;
}

}  // namespace mmapurl::tools
