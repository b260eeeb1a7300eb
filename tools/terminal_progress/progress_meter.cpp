// ProgressMeter: a thread wakes every 200 ms after the first second, reads the engine's
// process-wide counters and redraws one stderr line with '\r' and clear-to-end-of-line.
#include "terminal_progress/progress_meter.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace mmapurl::tools {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kQuietStart = std::chrono::seconds(1);
constexpr auto kRedraw = std::chrono::milliseconds(200);
constexpr const char* kClearToEnd = "\x1b[K";

size_t terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col - 1u;
  return 79;
}

// One write(2) per redraw, so the line is never split by another writer's bytes.
void write_all(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(STDERR_FILENO, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

Stats stats_now() {
  Stats s;
  mmapurl_stats_get(nullptr, &s);
  return s;
}
}  // namespace

bool ProgressMeter::wanted(bool quiet) { return !quiet && ::isatty(STDERR_FILENO) == 1; }

ProgressMeter::ProgressMeter(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(Clock::now()),
      baseline_(enabled ? stats_now() : Stats{}) {
  if (enabled_) thread_ = std::thread([this] { run(); });
}

ProgressMeter::~ProgressMeter() { finish(); }

ProgressSample ProgressMeter::sample() const {
  ProgressSample s;
  s.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.total = total_;
  Stats now = stats_now();
  s.faults = now.faults - baseline_.faults;
  s.requests = now.requests - baseline_.requests;
  s.in_flight_bytes = now.in_flight_bytes;
  return s;
}

void ProgressMeter::run() {
  std::unique_lock lock(mutex_);
  if (wake_.wait_for(lock, kQuietStart, [this] { return stop_; })) return;
  while (!stop_) {
    lock.unlock();
    write_all("\r" + progress_line(label_, sample(), terminal_columns()) + kClearToEnd);
    lock.lock();
    drawn_ = true;
    wake_.wait_for(lock, kRedraw, [this] { return stop_; });
  }
}

void ProgressMeter::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  const int saved_errno = errno;  // a caller may print perror() right after
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::string out = drawn_ ? std::string("\r") + kClearToEnd : std::string();
  write_all(out + summary_line(label_, sample()) + "\n");
  errno = saved_errno;
}

}  // namespace mmapurl::tools
