// DiskCache: pwrite/pread of whole pages on an unnamed file. The calls block the engine thread,
// but on data the kernel's page cache holds (the cache was written moments ago) they cost a
// memcpy; a cache file the kernel wrote back and dropped costs a disk read.
#include "cache/disk_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "cache/cache_trust.hpp"
#include "cache/kept_cache_paths.hpp"
#include "cache/kept_cache_record.hpp"

namespace mmapurl::cache {

namespace {
// Calls `step(done, left)` (a read or write of at most `left` bytes at offset `done`) until
// `bytes` have moved, resuming after EINTR and short transfers. Sets `*done`; returns the last
// step's result: above 0 when all moved, 0 for no progress (end of file), below 0 with errno set.
template <typename Step>
ssize_t transfer_fully(Step step, uint64_t bytes, uint64_t* done) {
  *done = 0;
  ssize_t n = 1;
  while (*done < bytes) {
    n = step(*done, bytes - *done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    *done += static_cast<uint64_t>(n);
  }
  return n;
}

// At most `limit` bytes of the file `name` in `dir`; "" if it cannot be read or is not a private
// file of this user's (cache_trust.hpp): then it is no record.
std::string read_private_file(int dir, const std::string& name, size_t limit) {
  int fd = ::openat(dir, name.c_str(), O_RDONLY | kCacheFileOpenFlags);
  if (fd < 0) return "";
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !cache_file_refusal(st, ::geteuid()).empty()) {
    ::close(fd);
    return "";
  }
  std::string out(limit, '\0');
  uint64_t done = 0;
  transfer_fully([&](uint64_t at, uint64_t n) { return ::read(fd, out.data() + at, n); }, limit,
                 &done);
  ::close(fd);
  out.resize(done);
  return out;
}

// Writes `bytes` to a new file `name` in `dir`, made here (O_EXCL): never into one found there.
bool write_new_file(int dir, const std::string& name, const std::string& bytes) {
  int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | kCacheFileOpenFlags, 0600);
  if (fd < 0) return false;
  uint64_t done = 0;
  transfer_fully([&](uint64_t at, uint64_t n) { return ::write(fd, bytes.data() + at, n); },
                 bytes.size(), &done);
  const bool ok = done == bytes.size() && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Errors of an open that mean the entry is not a file this cache may use: a link, a socket, a
// file of another's it may not open, a leased file (O_NONBLOCK).
bool names_something_else(int open_errno) {
  return open_errno == ELOOP || open_errno == ENXIO || open_errno == EACCES ||
         open_errno == EPERM || open_errno == EWOULDBLOCK || open_errno == ENODEV;
}

// The kept file `name` in `dir`, opened for reading and writing and made if absent (`*created`).
// An entry there that is not a private regular file of this user's (cache_trust.hpp) is never
// used: only this user and root can make entries in a checked directory, so it was put there by
// hand; it is removed and the file made anew, empty. -1 with `*why` set when no such file can be
// had.
int open_private_file(int dir, const std::string& name, bool* created, std::string* why) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    int fd = ::openat(dir, name.c_str(), O_RDWR | O_CREAT | O_EXCL | kCacheFileOpenFlags, 0600);
    *created = fd >= 0;
    if (*created) return fd;
    if (errno != EEXIST) {
      *why = std::strerror(errno);
      return -1;
    }
    fd = ::openat(dir, name.c_str(), O_RDWR | kCacheFileOpenFlags);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // removed between the two opens
      *why = std::strerror(errno);
      if (!names_something_else(errno)) return -1;
    } else {
      struct stat st {};
      *why = ::fstat(fd, &st) == 0 ? cache_file_refusal(st, ::geteuid()) : std::strerror(errno);
      if (why->empty()) return fd;
      const bool still_there = name_is_file(dir, name, st);
      ::close(fd);
      if (!still_there) continue;  // replaced since it was opened: the successor is judged
    }
    if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      *why = "not a private file of this user (" + *why +
             ") and cannot be removed: " + std::strerror(errno);
      return -1;
    }
  }
  *why = "replaced again and again while opened";
  return -1;
}
}  // namespace

std::unique_ptr<DiskCache> DiskCache::create(const std::string& dir, uint64_t pages,
                                             std::string* error) {
  auto directory = CacheDirectory::open(dir, error);
  if (!directory) return nullptr;
  int fd = ::openat(directory->fd(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cache directory " + directory->path() + ": " + std::strerror(errno);
    return nullptr;
  }
  // Sparse: the file takes disk space only for the pages written.
  if (::ftruncate(fd, static_cast<off_t>(pages * kPageSize)) != 0) {
    *error = "cache file in " + directory->path() + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<DiskCache>(new DiskCache(fd, pages));
}

std::unique_ptr<DiskCache> DiskCache::open_kept(const std::string& dir, const std::string& name,
                                                const std::string& validator, uint64_t pages,
                                                std::string* error) {
  auto directory = CacheDirectory::open(dir, error);
  if (!directory) return nullptr;
  const int at = directory->fd();
  const std::string file = kept_cache_file_name(name);
  const std::string record = kept_cache_record_name(file);
  const std::string path = directory->path() + "/" + file;
  int fd = -1;
  // Every way to fail: what failed and errno's word for it (before close may change errno).
  auto fail = [&](const std::string& what, std::string why) -> std::unique_ptr<DiskCache> {
    *error = what + ": " + why;
    if (fd >= 0) ::close(fd);
    return nullptr;
  };
  // A file made here holds nothing, whatever a record left beside it says (its bytes were
  // deleted by hand, or pruned by a process that died before the record went too).
  bool created = false;
  // Pruning (kept_cache_pruning.hpp) unlinks a file only while it holds the file's lock: a lock
  // won on a file no longer at its name is on a deleted file, and the open starts again.
  for (int attempt = 0;; ++attempt) {
    std::string why;
    fd = open_private_file(at, file, &created, &why);
    if (fd < 0) return fail("kept cache file " + path, why);
    // One mapping at a time writes a kept file (another process's, or this one's second mapping
    // of the object, gets an unnamed file of its own).
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      return fail("kept cache file " + path,
                  errno == EWOULDBLOCK ? "in use by another mapping" : std::strerror(errno));
    }
    struct stat held_file {};
    if (::fstat(fd, &held_file) != 0) return fail("kept cache file " + path, std::strerror(errno));
    if (name_is_file(at, file, held_file)) {
      // A file cut short (truncated by hand) would read as zeros where the record says bytes.
      if (static_cast<uint64_t>(held_file.st_size) != pages * kPageSize) created = true;
      break;
    }
    if (attempt == 3) return fail("kept cache file " + path, "deleted under this mapping");
    ::close(fd);
    fd = -1;
  }
  // Its time of last use, which pruning goes by (reads alone would leave it unchanged).
  ::futimens(fd, nullptr);
  const uint64_t words = (pages + 63) / 64;
  std::optional<control::PageBitmap> held;
  if (!created) {
    held = decode_kept_cache_record(
        read_private_file(at, record, 4096 + validator.size() + words * sizeof(uint64_t)),
        validator, pages);
  }
  // The record goes now, durably: until save() writes it again, the file's pages are not trusted.
  if ((::unlinkat(at, record.c_str(), 0) != 0 && errno != ENOENT) || !sync_directory(at)) {
    return fail("kept cache record " + directory->path() + "/" + record, std::strerror(errno));
  }
  // No record for this object: drop the old bytes (and their disk space), then size it sparse.
  if ((!held && ::ftruncate(fd, 0) != 0) ||
      ::ftruncate(fd, static_cast<off_t>(pages * kPageSize)) != 0) {
    return fail("kept cache file " + path, std::strerror(errno));
  }
  std::unique_ptr<DiskCache> cache(held ? new DiskCache(fd, std::move(*held))
                                        : new DiskCache(fd, pages));
  cache->dir_ = std::move(directory);
  cache->file_ = file;
  cache->path_ = path;
  cache->validator_ = validator;
  return cache;
}

uint64_t DiskCache::disk_bytes() const {
  struct stat st {};
  return ::fstat(fd_, &st) == 0 ? allocated_bytes(st) : 0;
}

// A file deleted by hand while mapped may have a successor at its name, from another mapping:
// neither its record nor an unlink may then touch that one.
bool DiskCache::still_at_its_path() const {
  struct stat held_file {};
  return ::fstat(fd_, &held_file) == 0 && name_is_file(dir_->fd(), file_, held_file);
}

void DiskCache::discard() {
  if (!kept() || saved_) return;
  saved_ = true;
  if (still_at_its_path()) ::unlinkat(dir_->fd(), file_.c_str(), 0);  // its record went at open
}

bool DiskCache::save() {
  if (!kept() || saved_) return true;
  saved_ = true;
  if (!still_at_its_path()) {
    error_ = "kept cache file " + path_ + " was deleted while mapped";
    return false;
  }
  const int at = dir_->fd();
  if (!usable_) {  // its bytes are not all known good: nothing to keep
    ::unlinkat(at, file_.c_str(), 0);
    return false;
  }
  const std::string record = kept_cache_record_name(file_);
  const std::string temporary = kept_cache_temporary_record_name(file_);
  // A temporary record left by a process that died while saving (or anything else at its name:
  // the record is written only into a file made here) goes first.
  ::unlinkat(at, temporary.c_str(), 0);
  // The bytes first: a record on disk must never name pages the disk does not hold yet.
  if (::fdatasync(fd_) != 0 ||
      !write_new_file(at, temporary, encode_kept_cache_record(validator_, held_)) ||
      ::renameat(at, temporary.c_str(), at, record.c_str()) != 0 || !sync_directory(at)) {
    error_ = "saving kept cache record " + path_ + ".held: " + std::strerror(errno);
    ::unlinkat(at, temporary.c_str(), 0);
    return false;
  }
  return true;
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
// after EINTR and short transfers (transfer_fully); a failure turns the cache off, naming `what`.
template <typename Transfer>
bool DiskCache::transfer_pages(Transfer transfer, const char* what, uint64_t first_page,
                               uint64_t count) {
  if (!usable_) return false;
  const uint64_t bytes = count * kPageSize;
  const off_t start = static_cast<off_t>(first_page * kPageSize);
  uint64_t done = 0;
  const ssize_t last = transfer_fully(
      [&](uint64_t at, uint64_t n) { return transfer(at, n, start + static_cast<off_t>(at)); },
      bytes, &done);
  if (done < bytes) {
    disable(std::string(what) +
            " the cache file: " + (last < 0 ? std::strerror(errno) : "no progress"));
    return false;
  }
  return true;
}

bool DiskCache::store(uint64_t first_page, const uint8_t* data, uint64_t count) {
  auto write = [&](uint64_t done, uint64_t n, off_t at) {
    return ::pwrite(fd_, data + done, n, at);
  };
  if (!transfer_pages(write, "writing", first_page, count)) return false;
  held_.set_range(first_page, count);
  return true;
}

bool DiskCache::load(uint64_t first_page, uint8_t* out, uint64_t count) {
  auto read = [&](uint64_t done, uint64_t n, off_t at) { return ::pread(fd_, out + done, n, at); };
  return transfer_pages(read, "reading", first_page, count);
}

}  // namespace mmapurl::cache
