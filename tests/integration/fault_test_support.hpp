// Shared helpers of the fault, lifecycle and unprivileged tests: read a mapping page by page
// catching SIGBUS per thread (sigsetjmp/siglongjmp), check bytes, bound waits.
#pragma once

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/synthetic_content.hpp"
#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"

namespace mmapurl::faulttest {

constexpr size_t kPage = 4096;

// What the kernel said when a touch raised SIGBUS.
struct SigbusRecord {
  int code = 0;           // si_code
  uintptr_t addr = 0;     // si_addr
  uintptr_t touched = 0;  // the address the test read first on that page
};

inline thread_local sigjmp_buf* tls_sigbus_jump = nullptr;
inline thread_local SigbusRecord tls_sigbus_last{};

// A SIGBUS on a thread that armed a jump buffer returns into touch_page(); anywhere else the
// default action runs (the process dies, as it would without the test).
inline void sigbus_handler(int sig, siginfo_t* info, void*) {
  if (tls_sigbus_jump != nullptr) {
    tls_sigbus_last.code = info->si_code;
    tls_sigbus_last.addr = reinterpret_cast<uintptr_t>(info->si_addr);
    siglongjmp(*tls_sigbus_jump, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

inline void install_sigbus_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = sigbus_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

// Copies one page (or less) from the mapping into `out`; false (and *rec) when it raised SIGBUS.
// noinline: the jump buffer must belong to a frame that is live while the copy runs.
[[gnu::noinline]] inline bool touch_page(const uint8_t* src, uint8_t* out, size_t n,
                                         SigbusRecord* rec) {
  sigjmp_buf jump;
  tls_sigbus_jump = &jump;
  if (sigsetjmp(jump, 1) != 0) {
    tls_sigbus_jump = nullptr;
    if (rec != nullptr) {
      *rec = tls_sigbus_last;
      rec->touched = reinterpret_cast<uintptr_t>(src);
    }
    return false;
  }
  // Volatile reads: the compiler may neither skip nor reorder the touch past the disarm.
  const volatile uint8_t* v = src;
  for (size_t i = 0; i < n; ++i) out[i] = v[i];
  tls_sigbus_jump = nullptr;
  return true;
}

// The outcome of reading pages [first, first+count) of a mapping of a synthetic object.
struct PageScan {
  std::vector<size_t> sigbus_pages;  // raised SIGBUS
  std::vector<size_t> wrong_pages;   // read, but not the object's bytes
  std::vector<size_t> right_pages;
  std::vector<SigbusRecord> records;  // one per SIGBUS page
  double seconds = 0;                 // the whole scan
  double first_sigbus_seconds = -1;   // from the start to the first SIGBUS
  double last_sigbus_seconds = -1;
  bool all_right() const { return sigbus_pages.empty() && wrong_pages.empty(); }
};

// Reads every page of the range with a SIGBUS handler; pages are compared with object `seed`
// (bytes past `object_size` on the last page must be zero).
inline PageScan scan_pages(const uint8_t* base, size_t object_size, uint64_t seed, size_t first,
                           size_t count) {
  install_sigbus_handler();
  PageScan scan;
  auto start = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<uint8_t> buf(kPage);
  size_t pages = (object_size + kPage - 1) / kPage;
  for (size_t p = first; p < first + count && p < pages; ++p) {
    size_t off = p * kPage;
    size_t n = std::min(kPage, object_size - off);
    SigbusRecord rec;
    if (!touch_page(base + off, buf.data(), n, &rec)) {
      scan.sigbus_pages.push_back(p);
      scan.records.push_back(rec);
      if (scan.first_sigbus_seconds < 0) scan.first_sigbus_seconds = since();
      scan.last_sigbus_seconds = since();
      continue;
    }
    bool ok = testserver::check_synthetic(seed, off, buf.data(), n, nullptr);
    if (ok && n < kPage) {
      // The tail of the last page, beyond the object, must read as zeros.
      std::vector<uint8_t> tail(kPage - n);
      ok = touch_page(base + off + n, tail.data(), tail.size(), nullptr) &&
           std::all_of(tail.begin(), tail.end(), [](uint8_t b) { return b == 0; });
    }
    (ok ? scan.right_pages : scan.wrong_pages).push_back(p);
  }
  scan.seconds = since();
  return scan;
}

inline std::string describe_pages(const std::vector<size_t>& pages) {
  std::string s;
  for (size_t i = 0; i < pages.size(); ++i) {
    if (i > 0) s += ",";
    if (i >= 24) return s + "...(" + std::to_string(pages.size()) + " pages)";
    s += std::to_string(pages[i]);
  }
  return s.empty() ? "none" : s;
}

inline const char* sigbus_code_name(int code) {
  switch (code) {
    case BUS_ADRALN:
      return "BUS_ADRALN";
    case BUS_ADRERR:
      return "BUS_ADRERR";
    case BUS_OBJERR:
      return "BUS_OBJERR";
    case BUS_MCEERR_AR:
      return "BUS_MCEERR_AR";
    case BUS_MCEERR_AO:
      return "BUS_MCEERR_AO";
    default:
      return "other";
  }
}

// Runs `fn` on its own thread; false when it has not returned after `timeout` (the thread is
// then left behind, detached: a hung thread cannot be killed, and the test fails instead).
inline bool run_with_timeout(std::function<void()> fn, std::chrono::milliseconds timeout) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  std::thread([st, fn = std::move(fn)] {
    fn();
    std::lock_guard lock(st->mu);
    st->done = true;
    st->cv.notify_all();
  }).detach();
  std::unique_lock lock(st->mu);
  return st->cv.wait_for(lock, timeout, [&] { return st->done; });
}

// Waits for a forked child for at most `timeout` (SIGKILL after it). The wait status, or
// nullopt when it had to be killed.
inline std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

inline std::string describe_status(const std::optional<int>& status) {
  if (!status) return "timed out (killed)";
  if (WIFEXITED(*status)) return "exit " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return std::string("signal ") + strsignal(WTERMSIG(*status));
  return "status " + std::to_string(*status);
}

// Writes object `seed` of `size` bytes to `path` (for nginx's docroot).
inline bool write_synthetic_file(const std::string& path, uint64_t seed, size_t size) {
  std::string data(size, '\0');
  testserver::fill_synthetic(seed, 0, reinterpret_cast<uint8_t*>(data.data()), size);
  return testing::write_file(path, data);
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace mmapurl::faulttest
