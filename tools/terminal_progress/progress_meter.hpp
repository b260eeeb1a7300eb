// A progress line on stderr, redrawn in place while a tool runs, and a summary line at its end.
// Runs shorter than a second show only the summary.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "mmapurl.hpp"
#include "terminal_progress/progress_line.hpp"

namespace mmapurl::tools {

class ProgressMeter {
 public:
  // Draws nothing at all unless `enabled`: the tool passes "stderr is a terminal and not
  // --quiet", so a log file or a pipe never receives '\r' lines. `total`: expected bytes, or 0.
  ProgressMeter(std::string label, uint64_t total, bool enabled);
  ~ProgressMeter();  // finish()
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  // Bytes read so far; any thread may call it.
  void add(uint64_t bytes) { bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  // The same count, for code that adds to it itself.
  std::atomic<uint64_t>* counter() { return &bytes_; }
  // Stops redrawing, clears the line and prints the summary (when enabled). Idempotent.
  void finish();

  // True when the tool should show progress: stderr is a terminal and the user did not say quiet.
  static bool wanted(bool quiet);

 private:
  void run();
  ProgressSample sample() const;

  const std::string label_;
  const uint64_t total_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  const Stats baseline_;
  std::atomic<uint64_t> bytes_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool drawn_ = false;  // a progress line is on the screen (only the meter's thread sets it)
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace mmapurl::tools
