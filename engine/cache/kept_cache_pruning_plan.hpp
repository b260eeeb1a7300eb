// Which kept cache files (MMAPURL_CACHE_KEEP) to delete so that those left fit the bounds: at
// most MMAPURL_CACHE_KEEP_LIMIT bytes in all, and a floor of free space on their filesystem.
// Pure: the caller reads the directory and deletes; unit-tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmapurl::cache {

struct KeptCacheFile {
  uint64_t bytes = 0;        // the disk space it takes (allocated blocks: the files are sparse)
  int64_t last_used_ns = 0;  // set when a mapping opens it, and by every write
  bool in_use = false;       // a mapping holds it: never deleted
};

struct KeptCacheBounds {
  uint64_t limit = 0;       // bytes all kept files may take; 0: no limit
  uint64_t free_bytes = 0;  // free on their filesystem now
  uint64_t free_floor = 0;  // free space to leave
};

// Indexes into `files` of those to delete, least recently used first, until the files left total
// at most `limit` and deleting has freed enough to reach `free_floor`. Files in use stay even
// when the bounds are not met: they are the ones being read.
std::vector<size_t> kept_caches_to_delete(const std::vector<KeptCacheFile>& files,
                                          const KeptCacheBounds& bounds);

}  // namespace mmapurl::cache
