// Engine log implementation: one line per write(2), level-prefixed, timestamped.
#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

namespace mmapurl::core {

namespace {
std::atomic<int> g_level{0};
std::atomic<int> g_fd{-1};
}  // namespace

void log_init(const std::string& level, const std::string& file) {
  int lv = 0;
  if (level == "error") lv = 1;
  if (level == "info" || level == "1" || level == "true") lv = 2;
  if (level == "debug") lv = file.empty() ? 3 : 4;
  if (lv == 0) return;
  int fd = file.empty() ? ::fcntl(2, F_DUPFD_CLOEXEC, 3)
                        : ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  g_fd.store(fd);
  g_level.store(lv);
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

void log_line(LogLevel level, const std::string& message) {
  int fd = g_fd.load();
  if (fd < 0) return;
  static const char* names[] = {"", "error", "info", "debug", "debug"};
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  char prefix[64];
  int n = std::snprintf(prefix, sizeof prefix, "mmapurl %lld.%06lld %s: ", static_cast<long long>(now / 1000000),
                        static_cast<long long>(now % 1000000), names[static_cast<int>(level)]);
  std::string line(prefix, static_cast<size_t>(n));
  line += message;
  line += '\n';
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

}  // namespace mmapurl::core
