// cache_file_refusal, judge_cache_directory, per_user_directory_refusal: what the disk cache
// trusts in a directory other local users may reach.
#include <gtest/gtest.h>

#include "cache/cache_trust.hpp"

namespace mmapurl::cache {
namespace {

constexpr uid_t kUser = 1000;
constexpr uid_t kOther = 1001;

struct stat entry(mode_t mode, uid_t owner, nlink_t links = 1) {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = owner;
  st.st_nlink = links;
  return st;
}

TEST(CacheTrust, OnlyAPrivateRegularFileOfTheUsersWithOneLinkIsUsed) {
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0600, kUser), kUser), "");
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0400, kUser), kUser), "");
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0666, kOther), kUser),
            "owned by uid 1001, not this user");
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0644, kUser), kUser),
            "open to group or others (mode 0644)");
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0620, kUser), kUser),
            "open to group or others (mode 0620)");
  EXPECT_EQ(cache_file_refusal(entry(S_IFREG | 0600, kUser, 2), kUser), "has 2 links");
  EXPECT_EQ(cache_file_refusal(entry(S_IFIFO | 0600, kUser), kUser), "not a regular file");
  EXPECT_EQ(cache_file_refusal(entry(S_IFLNK | 0777, kUser), kUser), "not a regular file");
  EXPECT_EQ(cache_file_refusal(entry(S_IFDIR | 0700, kUser), kUser), "not a regular file");
  // Root's own cache is judged the same way: a file of another user's is not root's.
  EXPECT_NE(cache_file_refusal(entry(S_IFREG | 0600, kUser), 0), "");
}

TEST(CacheTrust, ADirectoryOnlyTheUserOrRootCanChangeIsUsedDirectly) {
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 0700, kUser), kUser).use,
            DirectoryUse::kDirectly);
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 0755, kUser), kUser).use,
            DirectoryUse::kDirectly);
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 0755, 0), kUser).use, DirectoryUse::kDirectly);
}

TEST(CacheTrust, ASharedStickyDirectoryGetsAPerUserSubdirectory) {
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 01777, 0), kUser).use,
            DirectoryUse::kPerUserSubdirectory);
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 01770, 0), kUser).use,
            DirectoryUse::kPerUserSubdirectory);
  EXPECT_EQ(judge_cache_directory(entry(S_IFDIR | 01777, kUser), kUser).use,
            DirectoryUse::kPerUserSubdirectory);
  EXPECT_EQ(per_user_directory_name(kUser), "mmapurl-1000");
}

TEST(CacheTrust, ADirectoryOthersCouldRewriteIsRefusedWithAReason) {
  auto refused = [](const struct stat& st) {
    const DirectoryVerdict v = judge_cache_directory(st, kUser);
    return v.use == DirectoryUse::kRefused ? v.why : "used";
  };
  EXPECT_EQ(refused(entry(S_IFDIR | 0777, 0)),
            "writable by other users without the sticky bit (mode 0777)");
  EXPECT_EQ(refused(entry(S_IFDIR | 0770, kUser)),
            "writable by other users without the sticky bit (mode 0770)");
  EXPECT_EQ(refused(entry(S_IFDIR | 0700, kOther)),
            "owned by uid 1001, neither this user nor root");
  EXPECT_EQ(refused(entry(S_IFDIR | 01777, kOther)),
            "owned by uid 1001, neither this user nor root");
  EXPECT_EQ(refused(entry(S_IFREG | 0700, kUser)), "not a directory");
}

TEST(CacheTrust, APerUserSubdirectoryMustBeTheUsersWithMode0700) {
  EXPECT_EQ(per_user_directory_refusal(entry(S_IFDIR | 0700, kUser), kUser), "");
  EXPECT_EQ(per_user_directory_refusal(entry(S_IFDIR | 0700, kOther), kUser),
            "owned by uid 1001, not this user");
  EXPECT_EQ(per_user_directory_refusal(entry(S_IFDIR | 0777, kUser), kUser), "mode 0777, not 0700");
  EXPECT_EQ(per_user_directory_refusal(entry(S_IFDIR | 0755, kUser), kUser), "mode 0755, not 0700");
  EXPECT_EQ(per_user_directory_refusal(entry(S_IFLNK | 0777, kUser), kUser), "not a directory");
}

}  // namespace
}  // namespace mmapurl::cache
