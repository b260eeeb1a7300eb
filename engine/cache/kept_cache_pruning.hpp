// Deleting old kept cache files (MMAPURL_CACHE_KEEP), so that what stays between runs is bounded:
// the least recently used go first, until the kept files in the directory take at most
// MMAPURL_CACHE_KEEP_LIMIT bytes and their filesystem keeps a floor of free space. A file a
// mapping holds (locked, in this process or another) is never deleted. The engine prunes after
// it saves a kept cache.
#pragma once

#include <cstdint>
#include <string>

namespace mmapurl::cache {

// Of the filesystem's size, the free space pruning leaves (mountpoint-s3 keeps 5% free too).
inline constexpr double kKeptCacheFreeFraction = 0.05;

struct KeptCachePruning {
  uint64_t files_deleted = 0;
  uint64_t bytes_freed = 0;
  std::string error;  // the directory was refused or could not be read ("" otherwise)
};

// `limit`: bytes all kept files in `dir` (its checked directory: cache_directory.hpp) may take
// (0: no limit).
KeptCachePruning prune_kept_caches(const std::string& dir, uint64_t limit,
                                   double free_fraction = kKeptCacheFreeFraction);

}  // namespace mmapurl::cache
