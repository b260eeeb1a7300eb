// Userfaultfd: one userfaultfd descriptor with the operations the engine needs (register,
// fill, poison, wake). Opening probes the kernel: /dev/userfaultfd, the syscall, then
// user-mode-only for unprivileged processes.
#pragma once

#include <cstdint>
#include <string>

namespace mmapurl::uffd {

struct UffdFeatures {
  bool thread_id = false;       // faults carry the faulting thread's id (4.14)
  bool poison = false;          // UFFDIO_POISON (6.6)
  bool move = false;            // UFFDIO_MOVE (6.8)
  bool user_mode_only = false;  // opened with UFFD_USER_MODE_ONLY: kernel-mode faults get EFAULT
  std::string opened_via;       // "/dev/userfaultfd", "syscall", "syscall (user mode only)"
};

class Userfaultfd {
 public:
  Userfaultfd() = default;
  ~Userfaultfd();
  Userfaultfd(const Userfaultfd&) = delete;
  Userfaultfd& operator=(const Userfaultfd&) = delete;

  // Opens and negotiates the API. On failure returns false with errno-style `err` and a
  // sentence in `why`.
  bool open(int* err, std::string* why);
  int fd() const { return fd_; }
  const UffdFeatures& features() const { return features_; }
  // Forgets the descriptor without closing it (a forked child resets the engine this way).
  void abandon() { fd_ = -1; }

  int register_missing(uint64_t addr, uint64_t len);  // 0 or errno
  int unregister(uint64_t addr, uint64_t len);
  // Fills [dst, dst+len) from src; pages already present are skipped. 0 or errno (ENOENT or
  // ESRCH when the range is gone: the mapping was unmapped; ENOMEM when the kernel refused the
  // pages, as a memory cgroup at its limit does). `copied`, if given, gets the bytes from dst
  // on that are filled (all of len on success): they are woken, the rest are not.
  int copy(uint64_t dst, const void* src, uint64_t len, bool wake = true,
           uint64_t* copied = nullptr);
  int poison(uint64_t dst, uint64_t len);  // 0 or errno; pages already present are skipped
  int wake(uint64_t dst, uint64_t len);
  // One read(2) of queued events into `buf` (the descriptor never blocks): the bytes read, or -1
  // with `*err` (EAGAIN: none queued; EINTR: task work ran, read again).
  long read_events(void* buf, uint64_t bytes, int* err);

 private:
  int fd_ = -1;
  UffdFeatures features_;
};

}  // namespace mmapurl::uffd
