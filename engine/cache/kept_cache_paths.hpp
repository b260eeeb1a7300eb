// Where a kept cache (MMAPURL_CACHE_KEEP) lives in its checked directory (cache_directory.hpp):
// `mmapurl-<32 hex digits>.cache` holds the bytes, `<that>.held` the record of the pages it holds
// (kept_cache_record.hpp), and `<that>.held.tmp` the record while it is written. Shared by
// DiskCache and the pruning of old files, so that both agree on the names.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace mmapurl::cache {

// The bytes' file of the object `name` (its origin and URL): a digest names it, as URLs hold
// slashes and may be long; 128 bits of it name a file well enough.
std::string kept_cache_file_name(const std::string& name);
std::string kept_cache_record_name(const std::string& file_name);
std::string kept_cache_temporary_record_name(const std::string& file_name);
// Whether a directory entry is a kept cache's bytes file.
bool is_kept_cache_file_name(std::string_view file_name);
// A rename or unlink is durable only once its directory (a descriptor) is synced.
bool sync_directory(int dir);
// Whether `name` in `dir` still names the file `file` was read from (fstat of a descriptor),
// without following a link: a file deleted by hand or by pruning may have a successor there.
bool name_is_file(int dir, const std::string& name, const struct stat& file);
// The disk space a file takes: its allocated blocks (kept files are sparse).
inline uint64_t allocated_bytes(const struct stat& file) {
  return static_cast<uint64_t>(file.st_blocks) * 512;
}

}  // namespace mmapurl::cache
