// Engine log: off unless MMAPURL_LOG asks; written with write(2) to a descriptor the engine
// owns (never stdio: a faulting application thread may hold a stdio lock).
#pragma once

#include <string>

namespace mmapurl::core {

enum class LogLevel : int { kOff = 0, kError = 1, kInfo = 2, kDebug = 3 };

void log_init(const std::string& level, const std::string& file);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, const std::string& message);

}  // namespace mmapurl::core

#define MMAPURL_LOG(level, expr)                                                   \
  do {                                                                             \
    if (::mmapurl::core::log_enabled(level)) ::mmapurl::core::log_line(level, expr); \
  } while (0)
