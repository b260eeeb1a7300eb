// See kept_cache_pruning.hpp. Each candidate is opened and locked as a mapping would lock it;
// one that cannot be locked is in use. Deleting happens under the lock, record first: a file
// without its record is never trusted, and DiskCache::open_kept checks, once it holds the lock,
// that the file it locked is still the one at that name.
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

#include "cache/kept_cache_paths.hpp"
#include "cache/kept_cache_pruning_plan.hpp"

namespace mmapurl::cache {

namespace {
struct Candidate {
  std::string path;
  int locked_fd = -1;  // held while deciding; -1 for a file in use
  struct stat st {};
};
}  // namespace

KeptCachePruning prune_kept_caches(const std::string& dir, uint64_t limit, double free_fraction) {
  KeptCachePruning result;
  DIR* listing = ::opendir(dir.c_str());
  if (!listing) {
    result.error = "cache directory " + dir + ": " + std::strerror(errno);
    return result;
  }
  std::vector<Candidate> candidates;
  std::vector<KeptCacheFile> files;
  while (const dirent* entry = ::readdir(listing)) {
    if (!is_kept_cache_file_name(entry->d_name)) continue;
    Candidate c;
    c.path = dir + "/" + entry->d_name;
    int fd = ::open(c.path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || ::fstat(fd, &c.st) != 0) {
      if (fd >= 0) ::close(fd);
      continue;  // gone meanwhile, or not ours to judge
    }
    const bool in_use = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (in_use) {
      ::close(fd);
    } else {
      c.locked_fd = fd;
    }
    uint64_t bytes = allocated_bytes(c.st);
    struct stat record {};
    if (::stat(kept_cache_record_path(c.path).c_str(), &record) == 0) {
      bytes += allocated_bytes(record);
    }
    files.push_back(KeptCacheFile{
        bytes, int64_t{c.st.st_mtim.tv_sec} * 1'000'000'000 + c.st.st_mtim.tv_nsec, in_use});
    candidates.push_back(std::move(c));
  }
  ::closedir(listing);

  KeptCacheBounds bounds;
  bounds.limit = limit;
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) == 0) {
    bounds.free_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
    bounds.free_floor =
        static_cast<uint64_t>(static_cast<double>(fs.f_blocks) * fs.f_frsize * free_fraction);
  }
  for (size_t i : kept_caches_to_delete(files, bounds)) {
    const Candidate& c = candidates[i];
    if (!path_names_file(c.path, c.st)) continue;  // replaced since listed: not the file judged
    const std::string record = kept_cache_record_path(c.path);
    ::unlink(record.c_str());
    ::unlink((record + ".tmp").c_str());
    if (::unlink(c.path.c_str()) == 0) {
      ++result.files_deleted;
      result.bytes_freed += files[i].bytes;
    }
  }
  for (const Candidate& c : candidates) {
    if (c.locked_fd >= 0) ::close(c.locked_fd);
  }
  if (result.files_deleted > 0) sync_directory(dir);
  return result;
}

}  // namespace mmapurl::cache
