// CacheDirectory: the directory the disk cache's files live in, MMAPURL_CACHE_DIR or, when that
// is shared like /tmp, this user's 0700 subdirectory of it; opened and checked once on its
// descriptor (cache_trust.hpp), so that every file after is opened relative to what was checked.
#pragma once

#include <fcntl.h>

#include <optional>
#include <string>

namespace mmapurl::cache {

// Every open of a file in the directory: a link is never followed, a FIFO or a leased file never
// blocks the engine thread, and no child process inherits the descriptor.
inline constexpr int kCacheFileOpenFlags = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

class CacheDirectory {
 public:
  // The checked directory for `configured`; nullopt and `error` set (with the reason, for the
  // log) when it is refused or cannot be opened.
  static std::optional<CacheDirectory> open(const std::string& configured, std::string* error);
  CacheDirectory(CacheDirectory&& other) noexcept;
  CacheDirectory& operator=(CacheDirectory&& other) noexcept;
  CacheDirectory(const CacheDirectory&) = delete;
  CacheDirectory& operator=(const CacheDirectory&) = delete;
  ~CacheDirectory();

  int fd() const { return fd_; }
  // For messages: the configured directory, or its per-user subdirectory.
  const std::string& path() const { return path_; }

 private:
  CacheDirectory(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace mmapurl::cache
