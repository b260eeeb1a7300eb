// A task of the process waiting in the kernel for memory the engine holds. In a v1 memory cgroup
// with its OOM killer off, a fault that needs a page past the limit (the reader's own page-table
// page, for a range whose tables eviction freed) sleeps until memory is freed, and its fault never
// reaches the engine: with nothing else to do, the engine would never free any. So while the
// kernel refuses memory (the limit is lowered), the engine looks at the group's
// memory.oom_control every 100 ms and, when a task waits, gives back memory as for a refusal.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>

#include "control/cgroup_memory.hpp"
#include "core/cgroup_memory_reader.hpp"
#include "core/engine_impl.hpp"
#include "base/log.hpp"

namespace mmapurl::core {

namespace {
constexpr auto kOomWatchTick = std::chrono::milliseconds(100);
}  // namespace

void EngineImpl::watch_tasks_waiting_on_memory() {
  if (oom_watch_armed || !budget.lowered() || oom_watch_given_up) return;
  if (!oom_watch_timer) oom_watch_timer = std::make_unique<boost::asio::steady_timer>(*io);
  oom_watch_armed = true;
  oom_watch_timer->expires_after(kOomWatchTick);
  oom_watch_timer->async_wait([this](boost::system::error_code ec) {
    oom_watch_armed = false;
    if (ec) return;
    contain(
        "watching for tasks waiting on memory",
        [&] {
          open_oom_control_files();
          free_memory_for_waiting_tasks();
        },
        [](Contained) {});
    watch_tasks_waiting_on_memory();
  });
}

// At the group's limit even opening a file can fail (the kernel charges its memory to the
// group), so the files are opened at a tick after the refusal's eviction, tried again until they
// are; a group without them (v2) is not watched.
void EngineImpl::open_oom_control_files() {
  if (!oom_control_fds.empty()) return;
  const std::vector<std::string> paths = cgroup_oom_control_paths();
  for (const std::string& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) oom_control_fds.push_back(fd);
  }
  if (!oom_control_fds.empty()) {
    MMAPURL_LOG(LogLevel::kInfo, "watching " + std::to_string(oom_control_fds.size()) +
                                     " memory.oom_control files for tasks waiting on memory");
  } else if (++oom_watch_failed_opens >= 50 && paths.empty()) {
    oom_watch_given_up = true;  // five seconds without one: not a v1 memory cgroup
  }
}

// Reads into a buffer on the stack: at the group's limit, a new heap page could keep this thread
// waiting as well.
void EngineImpl::free_memory_for_waiting_tasks() {
  char text[256];
  for (const int fd : oom_control_fds) {
    const ssize_t n = ::pread(fd, text, sizeof text, 0);
    if (n <= 0 || !control::cgroup_under_oom(std::string_view(text, static_cast<size_t>(n)))) {
      continue;
    }
    MMAPURL_LOG(LogLevel::kInfo, "a task waits in the kernel for memory: giving some back");
    // A refusal lowers the limit at most once a second: under the limit already, an eighth of
    // what the engine holds goes anyway, since the waiting task needs only a page or two.
    if (!yield_memory_to_kernel(/*keep_newest_pages=*/0)) evict_for(memory_in_use() / 8);
    return;
  }
}

}  // namespace mmapurl::core
