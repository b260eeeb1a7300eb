// A mutex-guarded map: (endpoint, bucket) -> region, written rarely, read once per mapping. At
// most kMaxBuckets entries: a service that meets buckets all day keeps the most recently used.
#include "source/s3/addressing/bucket_region_cache.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace mmapurl::s3 {
namespace {

struct Remembered {
  std::string region;
  uint64_t last_use = 0;
};

std::mutex g_mutex;
std::map<std::pair<std::string, std::string>, Remembered> g_regions;
uint64_t g_uses = 0;

}  // namespace

std::optional<std::string> cached_bucket_region(const std::string& endpoint_key,
                                                const std::string& bucket) {
  std::lock_guard lock(g_mutex);
  auto it = g_regions.find({endpoint_key, bucket});
  if (it == g_regions.end()) return std::nullopt;
  it->second.last_use = ++g_uses;
  return it->second.region;
}

void remember_bucket_region(const std::string& endpoint_key, const std::string& bucket,
                            const std::string& region) {
  std::lock_guard lock(g_mutex);
  auto key = std::make_pair(endpoint_key, bucket);
  if (g_regions.size() >= kMaxRememberedBuckets && !g_regions.count(key)) {
    // Full: the least recently used goes (a linear walk, as rare as a redirect).
    g_regions.erase(std::min_element(g_regions.begin(), g_regions.end(), [](auto& a, auto& b) {
      return a.second.last_use < b.second.last_use;
    }));
  }
  g_regions[std::move(key)] = Remembered{region, ++g_uses};
}

size_t remembered_bucket_regions() {
  std::lock_guard lock(g_mutex);
  return g_regions.size();
}

}  // namespace mmapurl::s3
