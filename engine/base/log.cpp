// Engine log implementation: one line per write(2), level-prefixed, timestamped. Lines for a
// log file are written by the thread that logs; lines for stderr go through a queue to a writer
// thread of their own (see StderrWriter).
#include "base/log.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace mmapurl::base {

namespace {
std::atomic<int> g_level{0};
std::atomic<int> g_fd{-1};

// The engine thread must never wait on stderr. stderr is often a pipe, and an application
// thread whose write(2) to that pipe faults on a mapping holds the pipe's lock until the engine
// fills the page: an engine blocked writing a line there never would (a deadlock). So stderr
// lines are queued, and a thread that may block writes them. A full queue drops lines and says
// how many. The writer is never destroyed: it may be blocked in write(2) at exit.
class StderrWriter {
 public:
  explicit StderrWriter(int fd) : fd_(fd) {}
  void push(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) {
      running_ = true;
      start();
    }
    if (lines_.size() >= kMaxLines) {
      ++dropped_;
      return;
    }
    lines_.push_back(std::move(line));
    wake_.notify_one();
  }
  // At exit, lets the writer finish what is queued, for at most a moment: it may be blocked.
  void drain(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait_for(lock, limit, [this] { return lines_.empty() && !writing_; });
  }
  void before_fork() { mu_.lock(); }
  void after_fork_in_parent() { mu_.unlock(); }
  int fd() const { return fd_; }

 private:
  static constexpr size_t kMaxLines = 4096;
  void start() {
    std::thread([this] { run(); }).detach();
  }
  void run() {
    // Signals are the application's business, as on the engine thread.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    pthread_setname_np(pthread_self(), "mmapurl-log");
    std::deque<std::string> batch;
    for (;;) {
      uint64_t dropped = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        writing_ = false;
        idle_.notify_all();
        wake_.wait(lock, [this] { return !lines_.empty() || dropped_ > 0; });
        batch.swap(lines_);
        dropped = dropped_;
        dropped_ = 0;
        writing_ = true;
      }
      if (dropped > 0) {
        batch.push_back("mmapurl: " + std::to_string(dropped) +
                        " log lines dropped (stderr did not keep up)\n");
      }
      for (const auto& line : batch) {
        ssize_t ignored = ::write(fd_, line.data(), line.size());
        (void)ignored;
      }
      batch.clear();
    }
  }
  const int fd_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> lines_;
  uint64_t dropped_ = 0;
  bool writing_ = false;  // the writer holds a batch it has not written yet
  bool running_ = false;  // its thread has started
};

std::atomic<StderrWriter*> g_stderr_writer{nullptr};  // set once by log_init, never freed

void start_stderr_writer(int fd) {
  g_stderr_writer.store(new StderrWriter(fd));
  // The child of a fork has no writer thread, a copy of the parent's queue and a condition
  // variable the parent's writer was waiting on: it gets a writer of its own, whose thread its
  // first line starts (a child that only calls exec never starts one).
  ::pthread_atfork([] { g_stderr_writer.load()->before_fork(); },
                   [] { g_stderr_writer.load()->after_fork_in_parent(); },
                   [] { g_stderr_writer.store(new StderrWriter(g_stderr_writer.load()->fd())); });
  std::atexit([] { g_stderr_writer.load()->drain(std::chrono::milliseconds(200)); });
}
}  // namespace

void log_init(const std::string& level, const std::string& file) {
  int lv = 0;
  if (level == "error") lv = 1;
  if (level == "info" || level == "1" || level == "true") lv = 2;
  if (level == "debug") lv = file.empty() ? 3 : 4;
  if (lv == 0) return;
  StderrWriter* writer = g_stderr_writer.load();
  int fd = -1;
  if (!file.empty()) {
    fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  } else if (writer) {
    fd = writer->fd();  // an engine started again (in a forked child) keeps the one copy
  } else {
    fd = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) start_stderr_writer(fd);
  }
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
  auto* writer = g_stderr_writer.load();
  if (writer && writer->fd() == fd) return writer->push(std::move(line));
  ssize_t ignored = ::write(fd, line.data(), line.size());
  (void)ignored;
}

}  // namespace mmapurl::base
