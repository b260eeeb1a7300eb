// Engine log: off unless MMAPURL_LOG asks; written with write(2) to a descriptor the engine
// owns (never stdio: a faulting application thread may hold a stdio lock).
#pragma once

#include <string>

namespace mmapurl::base {

// kTimeline: MMAPURL_LOG=debug lines written on every fault's path (each planned range, each
// finished GET), and only to a MMAPURL_LOG_FILE. Lines for stderr go through a bounded queue
// to a writer thread (a reader whose write(2) to a stderr pipe faults on the mapping holds the
// pipe until the engine fills the page); the timeline would overflow that queue.
enum class LogLevel : int { kOff = 0, kError = 1, kInfo = 2, kDebug = 3, kTimeline = 4 };

void log_init(const std::string& level, const std::string& file);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const std::string& message);

}  // namespace mmapurl::base

#define MMAPURL_LOG(level, expr)                                                     \
  do {                                                                               \
    if (::mmapurl::base::log_enabled(level)) ::mmapurl::base::log_line(level, expr); \
  } while (0)
