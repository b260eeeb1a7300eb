#include "uffd/object_region.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/page_size.hpp"

namespace mmapurl::uffd {

namespace {
constexpr uint64_t kPage = base::kPageSize;
}  // namespace

int reserve_object_region(Userfaultfd& uffd, uint64_t length, uint64_t* base, std::string* what) {
  const uint64_t reserve = std::max<uint64_t>(length, kPage);
  void* addr =
      ::mmap(nullptr, reserve, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) {
    *what = "mmap";
    return errno;
  }
  ::madvise(addr, reserve, MADV_DONTFORK);
  const uint64_t at = reinterpret_cast<uint64_t>(addr);
  if (length > 0) {
    if (int e = uffd.register_missing(at, length)) {
      ::munmap(addr, reserve);
      *what = "UFFDIO_REGISTER";
      return e;
    }
  }
  *base = at;
  return 0;
}

void release_object_region(Userfaultfd& uffd, uint64_t base, uint64_t length) {
  if (length > 0) uffd.unregister(base, length);
  ::munmap(reinterpret_cast<void*>(base), std::max<uint64_t>(length, kPage));
}

void drop_object_pages(uint64_t addr, uint64_t len) {
  ::madvise(reinterpret_cast<void*>(addr), len, MADV_DONTNEED);
}

int fail_object_pages(Userfaultfd& uffd, uint64_t addr, uint64_t len, bool use_poison) {
  int poison_error = 0;
  if (use_poison && uffd.features().poison) {
    poison_error = uffd.poison(addr, len);
    if (poison_error == 0) return 0;
  }
  int fd = ::memfd_create("mmapurl-failed", MFD_CLOEXEC);
  if (fd >= 0) {
    ::mmap(reinterpret_cast<void*>(addr), len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    ::close(fd);
  }
  uffd.wake(addr, len);
  return poison_error;
}

uint8_t* map_staging(uint64_t bytes, int* err) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *err = errno;
    return nullptr;
  }
  return static_cast<uint8_t*>(p);
}

int populate_staging(uint8_t* p, uint64_t bytes) {
  if (::madvise(p, bytes, MADV_POPULATE_WRITE) == 0) return 0;
  return errno == ENOMEM ? ENOMEM : 0;
}

void unmap_staging(uint8_t* p, uint64_t bytes) { ::munmap(p, bytes); }

}  // namespace mmapurl::uffd
