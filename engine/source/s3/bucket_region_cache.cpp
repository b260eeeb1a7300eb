// A mutex-guarded map: (endpoint, bucket) -> region, written rarely, read once per mapping.
#include "source/s3/bucket_region_cache.hpp"

#include <map>
#include <mutex>
#include <utility>

namespace mmapurl::s3 {
namespace {

std::mutex g_mutex;
std::map<std::pair<std::string, std::string>, std::string> g_regions;

}  // namespace

std::optional<std::string> cached_bucket_region(const std::string& endpoint_key,
                                                const std::string& bucket) {
  std::lock_guard lock(g_mutex);
  auto it = g_regions.find({endpoint_key, bucket});
  if (it == g_regions.end()) return std::nullopt;
  return it->second;
}

void remember_bucket_region(const std::string& endpoint_key, const std::string& bucket,
                            const std::string& region) {
  std::lock_guard lock(g_mutex);
  g_regions[{endpoint_key, bucket}] = region;
}

}  // namespace mmapurl::s3
