// The kept cache's file names (cache/kept_cache_paths.hpp): a bytes file named after the object,
// its record beside it, and only bytes files recognised by pruning.
#include <gtest/gtest.h>

#include <string>

#include "cache/kept_cache_paths.hpp"

namespace mmapurl::cache {
namespace {

TEST(KeptCachePaths, TheRecordAndItsTemporaryAreTheBytesFileNameWithASuffix) {
  const std::string file = kept_cache_file_name("https://h:443 https://h/o");
  EXPECT_EQ(kept_cache_record_name(file), file + ".held");
  EXPECT_EQ(kept_cache_temporary_record_name(file), file + ".held.tmp");
}

TEST(KeptCachePaths, PruningKnowsTheBytesFilesByTheirNames) {
  const std::string file = kept_cache_file_name("https://h:443 https://h/o");
  EXPECT_TRUE(is_kept_cache_file_name(file)) << file;
}

TEST(KeptCachePaths, RecordsAndOtherNamesAreNoBytesFiles) {
  const std::string file = kept_cache_file_name("https://h:443 https://h/o");
  EXPECT_FALSE(is_kept_cache_file_name(kept_cache_record_name(file)));
  EXPECT_FALSE(is_kept_cache_file_name(kept_cache_temporary_record_name(file)));
  EXPECT_FALSE(is_kept_cache_file_name("mmapurl-0123456789abcdef0123456789ABCDEF.cache"));
  EXPECT_FALSE(is_kept_cache_file_name("mmapurl-0123456789abcdef.cache"));
  EXPECT_FALSE(is_kept_cache_file_name("mmapurl-1000"));  // a per-user subdirectory
  EXPECT_FALSE(is_kept_cache_file_name("notes.txt"));
}

TEST(KeptCachePaths, DifferentObjectsGetDifferentNames) {
  EXPECT_NE(kept_cache_file_name("a"), kept_cache_file_name("b"));
}

}  // namespace
}  // namespace mmapurl::cache
