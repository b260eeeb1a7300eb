// DiskCache: the bytes of one mapping's object kept in a file under MMAPURL_CACHE_DIR, so that a
// page evicted from memory (or never filled) is read back from the local file instead of fetched
// again, and so that a background download of the whole object costs page cache, not the
// process's memory. By default the file is unnamed (O_TMPFILE): it lives as long as the mapping
// and no other process can see stale bytes in it. A kept cache (MMAPURL_CACHE_KEEP) is a named
// file that outlives the mapping, with a record of the pages it holds (kept_cache_record.hpp).
// Both live in the checked directory (cache_directory.hpp). Only the engine thread uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "base/page_size.hpp"
#include "cache/cache_directory.hpp"
#include "control/page_bitmap.hpp"

namespace mmapurl::cache {

class DiskCache {
 public:
  static constexpr uint64_t kPageSize = base::kPageSize;

  // A cache file for `pages` pages in `dir` (or this user's subdirectory of it); nullptr and
  // `error` set when it cannot be made or the directory is refused.
  static std::unique_ptr<DiskCache> create(const std::string& dir, uint64_t pages,
                                           std::string* error);
  // The kept cache file of the object `name` (its origin and URL) in `dir`, locked for this
  // mapping, holding the pages its record names if the record is for `validator` (size and strong
  // ETag or version). The record is removed while the mapping lives, so a process that dies
  // without save() leaves a file the next mapping does not trust. Only a private regular file of
  // this user's is used (cache_trust.hpp): anything else at the name is removed and the cache
  // starts empty. nullptr and `error` set when it cannot be had (another mapping holds it, the
  // directory is refused or refuses).
  static std::unique_ptr<DiskCache> open_kept(const std::string& dir, const std::string& name,
                                              const std::string& validator, uint64_t pages,
                                              std::string* error);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  bool has(uint64_t page) const { return usable_ && held_.test(page); }
  // Length of the run from `first` (at most `max`) that the cache holds, or does not hold.
  uint64_t held_run(uint64_t first, uint64_t max) const;
  uint64_t missing_run(uint64_t first, uint64_t max) const;
  uint64_t held_pages() const { return held_.count(); }
  uint64_t pages() const { return held_.size(); }

  // Writes whole pages and marks them held. A failed write (a full disk) turns the cache off for
  // good: from then on every page comes from the network, as without a cache.
  bool store(uint64_t first_page, const uint8_t* data, uint64_t count);
  // Reads held pages; false (cache off from then on) if the file fails to give them back.
  bool load(uint64_t first_page, uint8_t* out, uint64_t count);
  bool usable() const { return usable_; }
  const std::string& error() const { return error_; }
  bool kept() const { return !path_.empty(); }
  // For a kept cache, at unmap and at exit: waits for the file's data to reach the disk, then
  // writes the record, so the next mapping of the same object starts with these pages. A cache
  // turned off is deleted instead. Once only; false with error() set if the record is not written.
  bool save();
  // The disk space the file takes (its allocated blocks: it is sparse).
  uint64_t disk_bytes() const;
  // For a kept cache instead of save(): deletes the file (too large to keep).
  void discard();

 private:
  DiskCache(int fd, uint64_t pages) : fd_(fd), held_(pages) {}
  DiskCache(int fd, control::PageBitmap held) : fd_(fd), held_(std::move(held)) {}
  void disable(const std::string& why);
  bool still_at_its_path() const;
  template <typename Transfer>
  bool transfer_pages(Transfer transfer, const char* what, uint64_t first_page, uint64_t count);
  int fd_;
  bool usable_ = true;
  std::optional<CacheDirectory> dir_;  // kept cache only: its directory,
  std::string file_;                   // its file (the bytes) there,
  std::string path_;                   // the file's path, for messages, and
  std::string validator_;              // what its record says the bytes are of
  bool saved_ = false;
  std::string error_;
  control::PageBitmap held_;
};

}  // namespace mmapurl::cache
