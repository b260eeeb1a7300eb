// What the disk cache trusts in a directory other local users may reach: only what this user
// made there. Pure: it judges fstat results; CacheDirectory and DiskCache open and ask.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

namespace mmapurl::cache {

// Why a cache file (bytes, record) is not to be used ("" when it may be). Only a regular file the
// user owns, with one link and no group or other permission bits, holds bytes the engine wrote
// itself: anything else may be read or rewritten by someone else, or block an open (a FIFO).
std::string cache_file_refusal(const struct stat& file, uid_t user);

enum class DirectoryUse {
  kDirectly,             // only the user (and root) can add or remove its entries
  kPerUserSubdirectory,  // shared like /tmp (sticky, writable by others): a 0700 one inside
  kRefused,              // others could replace the user's entries: no disk cache
};

struct DirectoryVerdict {
  DirectoryUse use = DirectoryUse::kRefused;
  std::string why;  // for kRefused
};

// How the configured MMAPURL_CACHE_DIR may be used. Its owner can rename anything in it, and
// without the sticky bit so can everyone who may write to it: it must be the user's or root's,
// and writable by others only when sticky.
DirectoryVerdict judge_cache_directory(const struct stat& dir, uid_t user);

// The per-user subdirectory of a shared cache directory, and why one found there is not to be
// used ("" when it may be): someone else may have made it first.
std::string per_user_directory_name(uid_t user);
std::string per_user_directory_refusal(const struct stat& dir, uid_t user);

}  // namespace mmapurl::cache
