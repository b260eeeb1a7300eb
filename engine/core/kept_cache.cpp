// Disk caches (MMAPURL_CACHE_DIR): opened for a new mapping (a kept file that matches the
// object's snapshot, else an unnamed one), saved at unmap and at exit, pruned to their bounds.
#include "cache/disk_cache.hpp"
#include "cache/kept_cache_pruning.hpp"
#include "core/engine_impl.hpp"
#include "base/log.hpp"

namespace mmapurl::core {

namespace {
// What a kept cache file must match to be trusted: the size and a strong validator. A weak ETag
// or a date alone may stand for other bytes; then the cache file is unnamed, as without keep.
std::string kept_cache_validator(const source::ObjectIdentity& id) {
  if (id.etag.find('\n') != std::string::npos || id.version_id.find('\n') != std::string::npos)
    return "";
  const std::string size = "size " + std::to_string(id.size);
  if (!id.version_id.empty()) return size + " version " + id.version_id + " etag " + id.etag;
  if (!id.etag.empty() && !id.etag_weak) return size + " etag " + id.etag;
  return "";
}
}  // namespace

// Without its cache file the mapping still works, from the network alone.
std::unique_ptr<cache::DiskCache> EngineImpl::open_cache(const source::ObjectSource& source,
                                                         const source::ObjectIdentity& id,
                                                         uint64_t pages) {
  std::string why;
  if (config.cache_keep) {
    const std::string validator = kept_cache_validator(id);
    if (validator.empty()) {
      MMAPURL_LOG(LogLevel::kInfo,
                  source.describe() + ": cache not kept: no strong ETag or version");
    } else if (auto kept = cache::DiskCache::open_kept(
                   config.cache_dir, source.origin().key() + " " + source.describe(), validator,
                   pages, &why)) {
      MMAPURL_LOG(LogLevel::kInfo, source.describe() + ": kept cache holds " +
                                       std::to_string(kept->held_pages()) + " of " +
                                       std::to_string(pages) + " pages");
      return kept;
    } else {
      MMAPURL_LOG(LogLevel::kInfo, source.describe() + ": cache not kept: " + why);
    }
  }
  auto unnamed = cache::DiskCache::create(config.cache_dir, pages, &why);
  if (!unnamed) MMAPURL_LOG(LogLevel::kError, source.describe() + ": no disk cache: " + why);
  return unnamed;
}

// A cache larger than MMAPURL_CACHE_KEEP_LIMIT on its own is not kept: the bound holds between
// runs whatever was mapped.
bool EngineImpl::save_kept_cache(Mapping& m) {
  if (!m.cache || !m.cache->kept()) return false;
  const uint64_t limit = config.cache_keep_limit;
  if (const uint64_t bytes = m.cache->disk_bytes(); limit > 0 && bytes > limit) {
    m.cache->discard();
    MMAPURL_LOG(LogLevel::kInfo, m.source->describe() + ": kept cache dropped: its " +
                                     std::to_string(bytes) +
                                     " bytes exceed MMAPURL_CACHE_KEEP_LIMIT");
  } else if (!m.cache->save()) {
    MMAPURL_LOG(LogLevel::kError,
                m.source->describe() + ": kept cache dropped: " + m.cache->error());
  }
  return true;
}

// After a save: the least recently used kept files go until the bounds hold (the one just saved,
// still locked by its mapping, stays).
void EngineImpl::prune_kept_caches() {
  const auto pruned = cache::prune_kept_caches(config.cache_dir, config.cache_keep_limit);
  if (!pruned.error.empty()) {
    MMAPURL_LOG(LogLevel::kError, "pruning kept caches: " + pruned.error);
  } else if (pruned.files_deleted > 0) {
    MMAPURL_LOG(LogLevel::kInfo, "pruning kept caches: deleted " +
                                     std::to_string(pruned.files_deleted) + " files, " +
                                     std::to_string(pruned.bytes_freed) + " bytes");
  }
}

}  // namespace mmapurl::core
