// See kept_cache_pruning.hpp. Only the user's checked directory (cache_directory.hpp) is listed,
// only private files of the user's are judged, and no link is followed. Each candidate is opened
// and locked as a mapping would lock it; one that cannot be locked is in use. Deleting happens
// under the lock, record first: a file without its record is never trusted, and
// DiskCache::open_kept checks, once it holds the lock, that the file it locked is still the one at
// that name.
#include "cache/kept_cache_pruning.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cache/cache_directory.hpp"
#include "cache/cache_trust.hpp"
#include "cache/kept_cache_paths.hpp"
#include "cache/kept_cache_pruning_plan.hpp"

namespace mmapurl::cache {

namespace {
struct Candidate {
  std::string name;
  int locked_fd = -1;  // held while deciding; -1 for a file in use
  struct stat st {};
};

// The disk space the record beside a kept file takes, if it is this user's regular file.
uint64_t record_bytes(int dir, const std::string& file_name, uid_t user) {
  struct stat record {};
  if (::fstatat(dir, kept_cache_record_name(file_name).c_str(), &record, AT_SYMLINK_NOFOLLOW) !=
          0 ||
      !S_ISREG(record.st_mode) || record.st_uid != user) {
    return 0;
  }
  return allocated_bytes(record);
}
}  // namespace

KeptCachePruning prune_kept_caches(const std::string& dir, uint64_t limit, double free_fraction) {
  KeptCachePruning result;
  auto directory = CacheDirectory::open(dir, &result.error);
  if (!directory) return result;
  const int at = directory->fd();
  // A descriptor of its own for the listing, whose position readdir moves.
  const int listing_fd = ::openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* listing = listing_fd >= 0 ? ::fdopendir(listing_fd) : nullptr;
  if (!listing) {
    result.error = "cache directory " + directory->path() + ": " + std::strerror(errno);
    if (listing_fd >= 0) ::close(listing_fd);
    return result;
  }
  const uid_t user = ::geteuid();
  std::vector<Candidate> candidates;
  std::vector<KeptCacheFile> files;
  while (const dirent* entry = ::readdir(listing)) {
    if (!is_kept_cache_file_name(entry->d_name)) continue;
    Candidate c;
    c.name = entry->d_name;
    int fd = ::openat(at, c.name.c_str(), O_RDWR | kCacheFileOpenFlags);
    if (fd < 0 || ::fstat(fd, &c.st) != 0 || !cache_file_refusal(c.st, user).empty()) {
      if (fd >= 0) ::close(fd);
      continue;  // gone meanwhile, or not this cache's to judge (DiskCache::open_kept replaces it)
    }
    const bool in_use = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (in_use) {
      ::close(fd);
    } else {
      c.locked_fd = fd;
    }
    files.push_back(
        KeptCacheFile{allocated_bytes(c.st) + record_bytes(at, c.name, user),
                      int64_t{c.st.st_mtim.tv_sec} * 1'000'000'000 + c.st.st_mtim.tv_nsec, in_use});
    candidates.push_back(std::move(c));
  }
  ::closedir(listing);

  KeptCacheBounds bounds;
  bounds.limit = limit;
  struct statvfs fs {};
  if (::fstatvfs(at, &fs) == 0) {
    bounds.free_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
    bounds.free_floor =
        static_cast<uint64_t>(static_cast<double>(fs.f_blocks) * fs.f_frsize * free_fraction);
  }
  for (size_t i : kept_caches_to_delete(files, bounds)) {
    const Candidate& c = candidates[i];
    if (!name_is_file(at, c.name, c.st)) continue;  // replaced since listed: not the file judged
    ::unlinkat(at, kept_cache_record_name(c.name).c_str(), 0);
    ::unlinkat(at, kept_cache_temporary_record_name(c.name).c_str(), 0);
    if (::unlinkat(at, c.name.c_str(), 0) == 0) {
      ++result.files_deleted;
      result.bytes_freed += files[i].bytes;
    }
  }
  for (const Candidate& c : candidates) {
    if (c.locked_fd >= 0) ::close(c.locked_fd);
  }
  if (result.files_deleted > 0) sync_directory(at);
  return result;
}

}  // namespace mmapurl::cache
