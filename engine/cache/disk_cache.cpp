// DiskCache: pwrite/pread of whole pages on an unnamed file. The calls block the engine thread,
// but on data the kernel's page cache holds (the cache was written moments ago) they cost a
// memcpy; a cache file the kernel wrote back and dropped costs a disk read.
#include "cache/disk_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mmapurl::cache {

std::unique_ptr<DiskCache> DiskCache::create(const std::string& dir, uint64_t pages,
                                             std::string* error) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cache directory " + dir + ": " + std::strerror(errno);
    return nullptr;
  }
  // Sparse: the file takes disk space only for the pages written.
  if (::ftruncate(fd, static_cast<off_t>(pages * kPageSize)) != 0) {
    *error = "cache file in " + dir + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<DiskCache>(new DiskCache(fd, pages));
}

DiskCache::~DiskCache() { ::close(fd_); }

uint64_t DiskCache::held_run(uint64_t first, uint64_t max) const {
  return usable_ ? held_.run_length(first, max, true) : 0;
}

uint64_t DiskCache::missing_run(uint64_t first, uint64_t max) const {
  if (!usable_) return std::min(max, held_.size() - std::min(first, held_.size()));
  return held_.run_length(first, max, false);
}

void DiskCache::disable(const std::string& why) {
  usable_ = false;
  error_ = why;
}

// Moves whole pages between `buffer` and the file with `transfer` (pread or pwrite), resuming
// after EINTR and short transfers; a failure turns the cache off, naming `what` failed.
template <typename Transfer>
bool DiskCache::transfer_pages(Transfer transfer, const char* what, uint64_t first_page,
                               uint64_t count) {
  if (!usable_) return false;
  const uint64_t bytes = count * kPageSize;
  for (uint64_t done = 0; done < bytes;) {
    ssize_t n = transfer(done, bytes - done, static_cast<off_t>(first_page * kPageSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      disable(std::string(what) + " the cache file: " +
              (n < 0 ? std::strerror(errno) : "no progress"));
      return false;
    }
    done += static_cast<uint64_t>(n);
  }
  return true;
}

bool DiskCache::store(uint64_t first_page, const uint8_t* data, uint64_t count) {
  auto write = [&](uint64_t done, uint64_t n, off_t at) { return ::pwrite(fd_, data + done, n, at); };
  if (!transfer_pages(write, "writing", first_page, count)) return false;
  held_.set_range(first_page, count);
  return true;
}

bool DiskCache::load(uint64_t first_page, uint8_t* out, uint64_t count) {
  auto read = [&](uint64_t done, uint64_t n, off_t at) { return ::pread(fd_, out + done, n, at); };
  return transfer_pages(read, "reading", first_page, count);
}

}  // namespace mmapurl::cache
