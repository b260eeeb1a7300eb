// See cache_trust.hpp. The reasons are worded for the log line that says why a cache is refused.
#include "cache/cache_trust.hpp"

#include <cstdio>

namespace mmapurl::cache {

namespace {
std::string octal_mode(mode_t mode) {
  char out[8];
  std::snprintf(out, sizeof out, "%04o", static_cast<unsigned>(mode & 07777));
  return out;
}

std::string owned_by(uid_t owner) { return "owned by uid " + std::to_string(owner); }
}  // namespace

std::string cache_file_refusal(const struct stat& file, uid_t user) {
  if (!S_ISREG(file.st_mode)) return "not a regular file";
  if (file.st_uid != user) return owned_by(file.st_uid) + ", not this user";
  if (file.st_nlink != 1) return "has " + std::to_string(file.st_nlink) + " links";
  if ((file.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return "open to group or others (mode " + octal_mode(file.st_mode) + ")";
  }
  return "";
}

DirectoryVerdict judge_cache_directory(const struct stat& dir, uid_t user) {
  if (!S_ISDIR(dir.st_mode)) return {DirectoryUse::kRefused, "not a directory"};
  if (dir.st_uid != user && dir.st_uid != 0) {
    return {DirectoryUse::kRefused, owned_by(dir.st_uid) + ", neither this user nor root"};
  }
  if ((dir.st_mode & (S_IWGRP | S_IWOTH)) == 0) return {DirectoryUse::kDirectly, ""};
  if ((dir.st_mode & S_ISVTX) == 0) {
    return {DirectoryUse::kRefused, "writable by other users without the sticky bit (mode " +
                                        octal_mode(dir.st_mode) + ")"};
  }
  return {DirectoryUse::kPerUserSubdirectory, ""};
}

std::string per_user_directory_name(uid_t user) { return "mmapurl-" + std::to_string(user); }

std::string per_user_directory_refusal(const struct stat& dir, uid_t user) {
  if (!S_ISDIR(dir.st_mode)) return "not a directory";
  if (dir.st_uid != user) return owned_by(dir.st_uid) + ", not this user";
  if ((dir.st_mode & 07777) != 0700) return "mode " + octal_mode(dir.st_mode) + ", not 0700";
  return "";
}

}  // namespace mmapurl::cache
