// See kept_cache_paths.hpp.
#include "cache/kept_cache_paths.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "base/sha256_hmac.hpp"  // a pure digest helper; SigV4 is its first user

namespace mmapurl::cache {

namespace {
constexpr std::string_view kPrefix = "mmapurl-";
constexpr std::string_view kSuffix = ".cache";
constexpr size_t kDigits = 32;
}  // namespace

std::string kept_cache_file_name(const std::string& name) {
  return std::string(kPrefix) + base::sha256_hex(name).substr(0, kDigits) + std::string(kSuffix);
}

std::string kept_cache_record_name(const std::string& file_name) { return file_name + ".held"; }

std::string kept_cache_temporary_record_name(const std::string& file_name) {
  return kept_cache_record_name(file_name) + ".tmp";
}

bool is_kept_cache_file_name(std::string_view file_name) {
  if (file_name.size() != kPrefix.size() + kDigits + kSuffix.size()) return false;
  if (file_name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (file_name.substr(kPrefix.size() + kDigits) != kSuffix) return false;
  for (char c : file_name.substr(kPrefix.size(), kDigits)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool sync_directory(int dir) { return ::fsync(dir) == 0; }

bool name_is_file(int dir, const std::string& name, const struct stat& file) {
  struct stat named {};
  return ::fstatat(dir, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
         named.st_ino == file.st_ino && named.st_dev == file.st_dev;
}

}  // namespace mmapurl::cache
