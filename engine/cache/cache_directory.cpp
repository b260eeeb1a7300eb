// See cache_directory.hpp. The configured path may pass through links (the user named it); the
// per-user subdirectory may not, and both are judged by fstat of the descriptor that is kept.
#include "cache/cache_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "cache/cache_trust.hpp"

namespace mmapurl::cache {

namespace {
constexpr int kDirectoryOpenFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
}  // namespace

std::optional<CacheDirectory> CacheDirectory::open(const std::string& configured,
                                                   std::string* error) {
  auto refuse = [&](const std::string& path, const std::string& why, int fd) {
    *error = "cache directory " + path + " refused: " + why;
    if (fd >= 0) ::close(fd);
    return std::nullopt;
  };
  int fd = ::open(configured.c_str(), kDirectoryOpenFlags);
  if (fd < 0) {
    *error = "cache directory " + configured + ": " + std::strerror(errno);
    return std::nullopt;
  }
  const uid_t user = ::geteuid();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return refuse(configured, std::strerror(errno), fd);
  const DirectoryVerdict verdict = judge_cache_directory(st, user);
  if (verdict.use == DirectoryUse::kRefused) return refuse(configured, verdict.why, fd);
  if (verdict.use == DirectoryUse::kDirectly) return CacheDirectory(fd, configured);

  const std::string name = per_user_directory_name(user);
  const std::string path = configured + "/" + name;
  if (::mkdirat(fd, name.c_str(), 0700) != 0 && errno != EEXIST) {
    return refuse(path, std::strerror(errno), fd);
  }
  const int own = ::openat(fd, name.c_str(), kDirectoryOpenFlags | O_NOFOLLOW);
  const int open_errno = errno;
  ::close(fd);
  if (own < 0) {
    return refuse(path, open_errno == ELOOP ? "a symbolic link" : std::strerror(open_errno), -1);
  }
  if (::fstat(own, &st) != 0) return refuse(path, std::strerror(errno), own);
  if (std::string why = per_user_directory_refusal(st, user); !why.empty()) {
    return refuse(path, why, own);
  }
  return CacheDirectory(own, path);
}

CacheDirectory::CacheDirectory(CacheDirectory&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

CacheDirectory& CacheDirectory::operator=(CacheDirectory&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

CacheDirectory::~CacheDirectory() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mmapurl::cache
