// s3:// URL parsing: every awkward key byte is kept literally; malformed URLs and bucket
// names are rejected; legacy bucket names are accepted and flagged.
#include <gtest/gtest.h>

#include "source/s3/addressing/s3_url.hpp"

namespace mmapurl::s3 {
namespace {

TEST(S3Url, PlainBucketAndKey) {
  auto parsed = parse_s3_url("s3://my-bucket/path/to/object.bin");
  ASSERT_TRUE(parsed.location.has_value()) << parsed.error;
  EXPECT_EQ(parsed.location->bucket, "my-bucket");
  EXPECT_EQ(parsed.location->key, "path/to/object.bin");
  EXPECT_EQ(parsed.location->bucket_kind, BucketNameKind::kDnsCompatible);
  EXPECT_TRUE(parse_s3_url("S3://my-bucket/k").location.has_value());
}

TEST(S3Url, AwkwardKeysAreKeptByteForByte) {
  const std::vector<std::string> keys = {
      "with space.txt", "a+b=c&d~e;f,g",   "(parens)",
      "100% literal",   "%41 not decoded", "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80",
      "double//slash",  "trailing/",       "trailing//",
      "/leading-slash", "./dot/../dots",   "?query#frag",
      "*!'@$:"};
  for (const auto& key : keys) {
    auto parsed = parse_s3_url("s3://bucket/" + key);
    ASSERT_TRUE(parsed.location.has_value()) << key << ": " << parsed.error;
    EXPECT_EQ(parsed.location->bucket, "bucket");
    EXPECT_EQ(parsed.location->key, key);
  }
}

TEST(S3Url, MalformedUrlsAreInvalid) {
  for (const char* url : {"", "s3:/", "s3://", "s3://bucket", "s3://bucket/", "s3:///key",
                          "https://bucket/key", "s3:bucket/key", "s3://ab/key",
                          "s3://bucket name/key", "s3://bucket?x/key", "s3://-bucket./key"}) {
    auto parsed = parse_s3_url(url);
    EXPECT_FALSE(parsed.location.has_value()) << url;
    EXPECT_FALSE(parsed.error.empty()) << url;
  }
}

TEST(S3Url, KeyMustBeUtf8AndAtMost1024Bytes) {
  EXPECT_FALSE(parse_s3_url("s3://bucket/\xff\xfe").location.has_value());
  EXPECT_FALSE(parse_s3_url("s3://bucket/\xc3").location.has_value());          // truncated
  EXPECT_FALSE(parse_s3_url("s3://bucket/\xc0\xaf").location.has_value());      // overlong
  EXPECT_FALSE(parse_s3_url("s3://bucket/\xed\xa0\x80").location.has_value());  // surrogate
  EXPECT_TRUE(parse_s3_url("s3://bucket/" + std::string(1024, 'k')).location.has_value());
  EXPECT_FALSE(parse_s3_url("s3://bucket/" + std::string(1025, 'k')).location.has_value());
}

TEST(S3Url, BucketNameRules) {
  EXPECT_EQ(classify_bucket_name("abc"), BucketNameKind::kDnsCompatible);
  EXPECT_EQ(classify_bucket_name("my.dotted.bucket"), BucketNameKind::kDnsCompatible);
  EXPECT_EQ(classify_bucket_name(std::string(63, 'a')), BucketNameKind::kDnsCompatible);
  EXPECT_EQ(classify_bucket_name("ab"), BucketNameKind::kInvalid);
  EXPECT_EQ(classify_bucket_name("has/slash"), BucketNameKind::kInvalid);
  EXPECT_EQ(classify_bucket_name("has space"), BucketNameKind::kInvalid);
  EXPECT_EQ(classify_bucket_name(".leading"), BucketNameKind::kInvalid);
  EXPECT_EQ(classify_bucket_name(std::string(256, 'a')), BucketNameKind::kInvalid);
  // Legacy (us-east-1, before 2018): upper case, underscores, adjacent dots, long names,
  // IP-like names. Accepted, reachable only path-style.
  EXPECT_EQ(classify_bucket_name("MyBucket"), BucketNameKind::kLegacy);
  EXPECT_EQ(classify_bucket_name("my_bucket"), BucketNameKind::kLegacy);
  EXPECT_EQ(classify_bucket_name(std::string(64, 'a')), BucketNameKind::kLegacy);
  EXPECT_EQ(classify_bucket_name("192.168.1.1"), BucketNameKind::kLegacy);
  EXPECT_EQ(classify_bucket_name("a..b"), BucketNameKind::kLegacy);
  auto legacy = parse_s3_url("s3://Legacy_Bucket/key");
  ASSERT_TRUE(legacy.location.has_value());
  EXPECT_EQ(legacy.location->bucket_kind, BucketNameKind::kLegacy);
}

}  // namespace
}  // namespace mmapurl::s3
