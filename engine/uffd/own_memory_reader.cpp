// process_vm_readv on the process itself: the kernel copies page by page and stops at the first
// page it cannot read, returning what it copied. Some seccomp profiles refuse it; pread of
// /proc/self/mem does the same walk.
#include "uffd/own_memory_reader.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace mmapurl::uffd {

namespace {
ssize_t read_through_proc_mem(uint64_t src, void* dst, size_t len, int* err) {
  const int fd = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  size_t done = 0;
  while (done < len) {
    const ssize_t n =
        ::pread(fd, static_cast<char*>(dst) + done, len - done, static_cast<off_t>(src + done));
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && done == 0) *err = errno;
    break;
  }
  ::close(fd);
  return done > 0 || len == 0 ? static_cast<ssize_t>(done) : -1;
}
}  // namespace

ssize_t read_own_memory(uint64_t src, void* dst, size_t len, int* err) {
  iovec local{dst, len};
  iovec remote{reinterpret_cast<void*>(src), len};
  for (;;) {
    const ssize_t n = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == ENOSYS || errno == EPERM) return read_through_proc_mem(src, dst, len, err);
    *err = errno;
    return -1;
  }
}

}  // namespace mmapurl::uffd
