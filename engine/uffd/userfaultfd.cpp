// Userfaultfd implementation: opening with fallbacks, API negotiation, fill ioctls.
#include "uffd/userfaultfd.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/page_size.hpp"
#include "uffd/uffd_abi.hpp"

namespace mmapurl::uffd {

namespace {
constexpr uint64_t kPage = base::kPageSize;

int open_raw(int flags, std::string* via) {
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    int saved = errno;
    ::close(dev);
    if (fd >= 0) {
      *via = "/dev/userfaultfd";
      return fd;
    }
    errno = saved;
  }
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, flags));
  if (fd >= 0) {
    *via = "syscall";
    return fd;
  }
  // Unprivileged with vm.unprivileged_userfaultfd=0: only user-mode faults are allowed.
  fd = static_cast<int>(::syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY));
  if (fd >= 0) *via = "syscall (user mode only)";
  return fd;
}
}  // namespace

Userfaultfd::~Userfaultfd() {
  if (fd_ >= 0) ::close(fd_);
}

bool Userfaultfd::open(int* err, std::string* why) {
  // Probe what the kernel offers on a throwaway descriptor: UFFDIO_API may be called once.
  std::string via;
  int probe = open_raw(O_CLOEXEC, &via);
  if (probe < 0) {
    *err = errno;
    *why =
        "userfaultfd unavailable (needs /dev/userfaultfd access, CAP_SYS_PTRACE, or "
        "vm.unprivileged_userfaultfd=1 / kernel >= 5.11 for user-mode-only)";
    return false;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = 0;
  if (::ioctl(probe, UFFDIO_API, &api) != 0) {
    *err = errno;
    ::close(probe);
    *why = "UFFDIO_API failed";
    return false;
  }
  ::close(probe);
  uint64_t available = api.features;
  uint64_t wanted = 0;
  if (available & UFFD_FEATURE_THREAD_ID) wanted |= UFFD_FEATURE_THREAD_ID;
  if (available & UFFD_FEATURE_POISON) wanted |= UFFD_FEATURE_POISON;
  // Non-blocking: io_uring then waits for it with its internal poll. A blocking userfaultfd
  // read handed to io_uring fails with EINTR every time (core/fault_dispatch.cpp says more).
  fd_ = open_raw(O_CLOEXEC | O_NONBLOCK, &via);
  if (fd_ < 0) {
    *err = errno;
    *why = "userfaultfd could not be reopened";
    return false;
  }
  api = {};
  api.api = UFFD_API;
  api.features = wanted;
  if (::ioctl(fd_, UFFDIO_API, &api) != 0) {
    *err = errno;
    *why = "UFFDIO_API with features failed";
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  features_.thread_id = wanted & UFFD_FEATURE_THREAD_ID;
  features_.poison = wanted & UFFD_FEATURE_POISON;
  features_.move = available & UFFD_FEATURE_MOVE;
  features_.user_mode_only = via.find("user mode") != std::string::npos;
  features_.opened_via = via;
  return true;
}

int Userfaultfd::register_missing(uint64_t addr, uint64_t len) {
  uffdio_register reg{};
  reg.range.start = addr;
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  return ::ioctl(fd_, UFFDIO_REGISTER, &reg) == 0 ? 0 : errno;
}

int Userfaultfd::unregister(uint64_t addr, uint64_t len) {
  uffdio_range range{addr, len};
  return ::ioctl(fd_, UFFDIO_UNREGISTER, &range) == 0 ? 0 : errno;
}

int Userfaultfd::copy(uint64_t dst, const void* src, uint64_t len, bool wake, uint64_t* copied) {
  uint64_t done = 0;
  while (done < len) {
    uffdio_copy c{};
    c.dst = dst + done;
    c.src = reinterpret_cast<uint64_t>(src) + done;
    c.len = len - done;
    c.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE;
    if (::ioctl(fd_, UFFDIO_COPY, &c) == 0) {
      done += static_cast<uint64_t>(c.copy);
      continue;
    }
    int e = errno;
    if (c.copy > 0) done += static_cast<uint64_t>(c.copy);
    if (e == EAGAIN) continue;  // the mm was changing under us: retry the rest
    if (e == EEXIST) {
      // A page is already there (filled earlier): keep it, wake whoever waits, go on.
      uint64_t page = (dst + done) & ~(kPage - 1);
      if (wake) this->wake(page, kPage);
      done = page + kPage - dst;
      continue;
    }
    if (copied) *copied = done;
    return e;
  }
  if (copied) *copied = len;
  return 0;
}

int Userfaultfd::poison(uint64_t dst, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    uffdio_poison p{};
    p.range.start = dst + done;
    p.range.len = len - done;
    p.mode = 0;
    if (::ioctl(fd_, UFFDIO_POISON, &p) == 0) {
      done += static_cast<uint64_t>(p.updated);
      continue;
    }
    int e = errno;
    if (p.updated > 0) done += static_cast<uint64_t>(p.updated);
    if (e == EAGAIN) continue;
    if (e == EEXIST) {
      done = ((dst + done) & ~(kPage - 1)) + kPage - dst;
      continue;
    }
    return e;
  }
  return 0;
}

long Userfaultfd::read_events(void* buf, uint64_t bytes, int* err) {
  const ssize_t n = ::read(fd_, buf, bytes);
  if (n < 0) *err = errno;
  return static_cast<long>(n);
}

int Userfaultfd::wake(uint64_t dst, uint64_t len) {
  uffdio_range range{dst, len};
  return ::ioctl(fd_, UFFDIO_WAKE, &range) == 0 ? 0 : errno;
}

}  // namespace mmapurl::uffd
