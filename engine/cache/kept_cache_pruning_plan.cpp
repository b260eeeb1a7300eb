// See kept_cache_pruning_plan.hpp.
#include "cache/kept_cache_pruning_plan.hpp"

#include <algorithm>
#include <numeric>

namespace mmapurl::cache {

std::vector<size_t> kept_caches_to_delete(const std::vector<KeptCacheFile>& files,
                                          const KeptCacheBounds& bounds) {
  uint64_t total = 0;
  for (const auto& f : files) total += f.bytes;
  uint64_t free_bytes = bounds.free_bytes;
  auto within = [&] {
    return (bounds.limit == 0 || total <= bounds.limit) && free_bytes >= bounds.free_floor;
  };
  std::vector<size_t> oldest_first(files.size());
  std::iota(oldest_first.begin(), oldest_first.end(), size_t{0});
  std::stable_sort(oldest_first.begin(), oldest_first.end(), [&](size_t a, size_t b) {
    return files[a].last_used_ns < files[b].last_used_ns;
  });
  std::vector<size_t> doomed;
  for (size_t i : oldest_first) {
    if (within()) break;
    if (files[i].in_use) continue;
    doomed.push_back(i);
    total -= files[i].bytes;
    free_bytes += files[i].bytes;
  }
  return doomed;
}

}  // namespace mmapurl::cache
