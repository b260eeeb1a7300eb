// Engine: the one per-process engine behind the C API. It owns the userfaultfd, the io_uring
// event loop thread, the connection pools and every mapping; callers post to it and wait.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "mmapurl.hpp"

namespace mmapurl::core {

struct MapOutcome {
  const void* addr = nullptr;
  size_t size = 0;
  int code = 0;         // MMAP_S3_*
  int sys_errno = 0;    // with MMAP_S3_ERRNO
  std::string message;  // redacted: no secrets, no query strings
};

class EngineImpl;

class Engine {
 public:
  // The process's engine, started on first use. On failure returns null and fills `failure`.
  static Engine* get(MapOutcome* failure);
  // The process's engine if one has started (a forked child has none until it maps), else null.
  // Never starts one: calls that act on existing mappings need no engine when there is none.
  static Engine* running();

  MapOutcome map(const std::string& url);
  int unmap(const void* addr);
  int advise(const void* addr, size_t len, int advice);
  bool stats(const void* addr, Stats* out);
  // mmapurl_read: the bytes copied, or -1 with `*err` (EIO at a failed page, EINVAL outside a
  // mapping, EDEADLK on the engine thread).
  long read(const void* addr, void* buf, size_t len, int* err);
  // On the engine thread: `started`, then saves the kept caches, then `park`, which never returns
  // (process exit).
  void post_freeze(std::function<void()> started, std::function<void()> park);

 private:
  friend long test_held_marker_pages(const void* addr);
  explicit Engine(EngineImpl* impl) : impl_(impl) {}
  EngineImpl* impl_;
};

}  // namespace mmapurl::core
