// kept_caches_to_delete: which kept cache files go so that the rest fit the bounds.
#include <gtest/gtest.h>

#include "cache/kept_cache_pruning_plan.hpp"

namespace mmapurl::cache {
namespace {

constexpr uint64_t kMiB = 1 << 20;

KeptCacheFile file(uint64_t mib, int64_t used, bool in_use = false) {
  return KeptCacheFile{mib * kMiB, used, in_use};
}

TEST(KeptCachePruningPlan, NothingWithinTheBounds) {
  const std::vector<KeptCacheFile> files{file(10, 1), file(20, 2)};
  EXPECT_TRUE(kept_caches_to_delete(files, {30 * kMiB, 100 * kMiB, 50 * kMiB}).empty());
  EXPECT_TRUE(kept_caches_to_delete(files, {0, 100 * kMiB, 0}).empty());  // no limit at all
  EXPECT_TRUE(kept_caches_to_delete({}, {1, 0, 50 * kMiB}).empty());      // nothing to delete
}

TEST(KeptCachePruningPlan, LeastRecentlyUsedFirstUntilUnderTheLimit) {
  const std::vector<KeptCacheFile> files{file(10, 30), file(20, 10), file(30, 20), file(5, 40)};
  // 65 MiB against 40: the file used at 10 (20 MiB) goes, then the one at 20 (30 MiB).
  EXPECT_EQ(kept_caches_to_delete(files, {40 * kMiB, 1000 * kMiB, 0}), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(kept_caches_to_delete(files, {45 * kMiB, 1000 * kMiB, 0}), (std::vector<size_t>{1}));
}

TEST(KeptCachePruningPlan, FilesInUseStayEvenOverTheLimit) {
  const std::vector<KeptCacheFile> files{file(50, 1, true), file(10, 2), file(10, 3)};
  EXPECT_EQ(kept_caches_to_delete(files, {20 * kMiB, 1000 * kMiB, 0}), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(kept_caches_to_delete({file(50, 1, true)}, {20 * kMiB, 0, 100 * kMiB}).empty());
}

TEST(KeptCachePruningPlan, DeletesUntilTheFreeSpaceFloorIsReached) {
  const std::vector<KeptCacheFile> files{file(10, 3), file(10, 1), file(10, 2)};
  // 5 MiB free, 20 wanted: two files of 10 MiB go, the oldest ones.
  EXPECT_EQ(kept_caches_to_delete(files, {0, 5 * kMiB, 20 * kMiB}), (std::vector<size_t>{1, 2}));
  // Both bounds: whichever asks more.
  EXPECT_EQ(kept_caches_to_delete(files, {25 * kMiB, 15 * kMiB, 20 * kMiB}),
            (std::vector<size_t>{1}));
  EXPECT_EQ(kept_caches_to_delete(files, {5 * kMiB, 15 * kMiB, 20 * kMiB}),
            (std::vector<size_t>{1, 2, 0}));
}

// Pruning judges only the files kept caches are named by, never a record or anything else.

}  // namespace
}  // namespace mmapurl::cache
