// The bucket-region cache: what a redirect taught is remembered, up to a bound, most recently
// used first (a service meeting new buckets all day kept every one for the life of the process).
#include <gtest/gtest.h>

#include <string>

#include "source/s3/addressing/bucket_region_cache.hpp"

using namespace mmapurl::s3;

TEST(BucketRegionCache, RemembersUpToItsBoundAndForgetsTheLeastRecentlyUsed) {
  const std::string endpoint = "bounded-test";
  remember_bucket_region(endpoint, "kept", "eu-west-1");
  for (size_t i = 0; i < kMaxRememberedBuckets + 200; ++i) {
    // The bucket in use stays: read between every redirect of the others.
    ASSERT_EQ(cached_bucket_region(endpoint, "kept"), "eu-west-1") << i;
    remember_bucket_region(endpoint, "b" + std::to_string(i), "us-east-2");
  }
  EXPECT_LE(remembered_bucket_regions(), kMaxRememberedBuckets);
  EXPECT_EQ(cached_bucket_region(endpoint, "kept"), "eu-west-1");
  EXPECT_FALSE(cached_bucket_region(endpoint, "b0")) << "the oldest unused entry went first";
  EXPECT_EQ(cached_bucket_region(endpoint, "b" + std::to_string(kMaxRememberedBuckets + 199)),
            "us-east-2");
  // A region learnt again replaces the entry, not adds one.
  const size_t before = remembered_bucket_regions();
  remember_bucket_region(endpoint, "kept", "ap-south-1");
  EXPECT_EQ(remembered_bucket_regions(), before);
  EXPECT_EQ(cached_bucket_region(endpoint, "kept"), "ap-south-1");
}
