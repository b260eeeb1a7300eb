// Region discovery against s3rver behind the SigV4-verifying proxy, with the proxy playing a
// bucket that lives in another region: a request signed for the wrong region is answered as AWS
// does (301 PermanentRedirect + x-amz-bucket-region, or 400 AuthorizationHeaderMalformed naming
// the region in its body), the client re-signs for the named region, and remembers it per bucket.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "integration/mapping_test_support.hpp"
#include "integration/s3_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace {

using mmapurl::itest::describe_failure;
using mmapurl::itest::random_bytes;
using mmapurl::itest::S3TestEnvironment;
using mmapurl::itest::set_env;
using mmapurl::itest::unset_env;
using mmapurl::testing::S3ProxyRequest;
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;

constexpr size_t kObjectSize = 700 * 1024 + 5;

// One server per test process; each test has buckets of its own, since the client remembers
// bucket regions for the whole process.
class S3Regions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    s3_ = S3TestEnvironment::start("mmapurl-s3-regions", {}, &error).release();
    ASSERT_NE(s3_, nullptr) << error;
    server_ = &s3_->server();
    dir_ = &s3_->dir();
  }

  // A bucket with first.bin and second.bin, made while it still answers in us-east-1 (awscli is
  // configured for it); the test moves it to another region afterwards.
  static void make_bucket(const std::string& bucket) {
    std::string error;
    ASSERT_TRUE(server_->create_bucket(bucket, &error)) << error;
    for (const char* key : {"first.bin", "second.bin"}) {
      std::string content = random_bytes(kObjectSize, std::hash<std::string>{}(bucket + key));
      ASSERT_TRUE(server_->put_object_content(bucket, key, content, &error)) << error;
      (*contents_)[bucket + "/" + key] = content;
    }
  }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
    server_ = nullptr;
    dir_ = nullptr;
  }

  // AWS credentials and endpoint, and no region anywhere (no variable, no region in the config).
  void SetUp() override {
    ASSERT_NE(s3_, nullptr);
    mmapurl::itest::S3Client client;
    client.region = false;
    client.config = "[default]\n";
    ASSERT_TRUE(s3_->prepare(client));
  }

  // Maps s3://bucket/key and compares every byte.
  static void expect_mapping_works(const std::string& bucket, const std::string& key) {
    const std::string& content = contents_->at(bucket + "/" + key);
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3(("s3://" + bucket + "/" + key).c_str(), &size, &err);
    ASSERT_NE(p, MAP_FAILED) << bucket << "/" << key << ": " << describe_failure(err);
    ASSERT_EQ(size, content.size());
    EXPECT_EQ(std::memcmp(p, content.data(), size), 0);
    EXPECT_EQ(munmap_s3(p), 0);
  }

  // The proxy's log lines for one bucket, from line `from` on.
  static std::vector<S3ProxyRequest> requests_for(const std::string& bucket, size_t from = 0) {
    std::vector<S3ProxyRequest> out;
    auto log = server_->request_log();
    for (size_t i = from; i < log.size(); ++i) {
      if (log[i].target.rfind("/" + bucket + "/", 0) == 0) out.push_back(log[i]);
    }
    return out;
  }

  static std::string describe(const std::vector<S3ProxyRequest>& requests) {
    std::string out;
    for (const auto& r : requests) {
      out += r.method + " " + r.target + " region=" + r.region + " " + r.outcome + "\n";
    }
    return out;
  }

  static size_t count_outcome(const std::vector<S3ProxyRequest>& requests,
                              const std::string& outcome) {
    size_t n = 0;
    for (const auto& r : requests) n += r.outcome == outcome;
    return n;
  }

  static S3TestEnvironment* s3_;
  static S3Server* server_;
  static TempDir* dir_;
  static std::map<std::string, std::string>* contents_;
};

S3TestEnvironment* S3Regions::s3_ = nullptr;
S3Server* S3Regions::server_ = nullptr;
TempDir* S3Regions::dir_ = nullptr;
std::map<std::string, std::string>* S3Regions::contents_ = new std::map<std::string, std::string>;

// No region configured: the first request is signed for us-east-1, S3 answers 301 naming the
// bucket's region, the client re-signs for it. A second mapping of the same bucket goes to the
// right region at once; another bucket is discovered on its own.
TEST_F(S3Regions, DiscoveredFromPermanentRedirectAndCachedPerBucket) {
  const std::string kEuBucket = "mmapurl-eu-bucket";
  const std::string kApBucket = "mmapurl-ap-bucket";
  make_bucket(kEuBucket);
  make_bucket(kApBucket);
  ASSERT_TRUE(
      server_->set_bucket_regions({{kEuBucket, "eu-west-1"}, {kApBucket, "ap-south-1"}}, 301));
  size_t log_start = server_->request_log().size();
  expect_mapping_works(kEuBucket, "first.bin");
  auto first = requests_for(kEuBucket, log_start);
  ASSERT_GE(first.size(), 2u) << describe(first);
  EXPECT_EQ(first[0].region, "us-east-1") << describe(first);
  EXPECT_EQ(first[0].outcome, "redirect-301") << describe(first);
  EXPECT_EQ(count_outcome(first, "redirect-301"), 1u) << describe(first);
  for (size_t i = 1; i < first.size(); ++i) {
    EXPECT_EQ(first[i].region, "eu-west-1") << describe(first);
    EXPECT_EQ(first[i].outcome, "forwarded") << describe(first);
  }

  // The cache: no redirect for the second object of the bucket.
  log_start = server_->request_log().size();
  expect_mapping_works(kEuBucket, "second.bin");
  auto second = requests_for(kEuBucket, log_start);
  ASSERT_FALSE(second.empty());
  for (const auto& r : second) {
    EXPECT_EQ(r.region, "eu-west-1") << describe(second);
    EXPECT_EQ(r.outcome, "forwarded") << describe(second);
  }

  // Per bucket: the other bucket is redirected once, to its own region.
  log_start = server_->request_log().size();
  expect_mapping_works(kApBucket, "first.bin");
  expect_mapping_works(kApBucket, "second.bin");
  auto other = requests_for(kApBucket, log_start);
  EXPECT_EQ(count_outcome(other, "redirect-301"), 1u) << describe(other);
  EXPECT_EQ(other.back().region, "ap-south-1") << describe(other);
  EXPECT_EQ(server_->stats()->rejected, 0u) << server_->stats()->last_rejection;
  EXPECT_EQ(server_->stats()->redirected, 2u);
}

// S3 can instead answer 400 AuthorizationHeaderMalformed with the region only in the error
// document's <Region> (no x-amz-bucket-region header on a GET): the client reads the body.
TEST_F(S3Regions, DiscoveredFromAuthorizationHeaderMalformedBody) {
  const std::string kEuBucket = "mmapurl-malformed-bucket";
  make_bucket(kEuBucket);
  ASSERT_TRUE(server_->set_bucket_regions({{kEuBucket, "eu-central-1"}}, 400));
  size_t log_start = server_->request_log().size();
  expect_mapping_works(kEuBucket, "first.bin");
  expect_mapping_works(kEuBucket, "second.bin");
  auto seen = requests_for(kEuBucket, log_start);
  ASSERT_GE(seen.size(), 3u) << describe(seen);
  EXPECT_EQ(seen[0].outcome, "redirect-400") << describe(seen);
  EXPECT_EQ(count_outcome(seen, "redirect-400"), 1u) << describe(seen);
  EXPECT_EQ(seen.back().region, "eu-central-1") << describe(seen);
}

// A configured region that is wrong for the bucket is corrected by S3's answer, as the AWS CLI
// (botocore's S3RegionRedirector) does, rather than failing the mapping.
TEST_F(S3Regions, WrongConfiguredRegionFollowsTheRedirect) {
  const std::string kEuBucket = "mmapurl-wrong-config-bucket";
  make_bucket(kEuBucket);
  ASSERT_TRUE(server_->set_bucket_regions({{kEuBucket, "eu-west-3"}}, 301));
  set_env("AWS_REGION", "us-west-2");
  size_t log_start = server_->request_log().size();
  expect_mapping_works(kEuBucket, "first.bin");
  expect_mapping_works(kEuBucket, "second.bin");
  auto seen = requests_for(kEuBucket, log_start);
  ASSERT_GE(seen.size(), 3u) << describe(seen);
  EXPECT_EQ(seen[0].region, "us-west-2") << describe(seen);
  EXPECT_EQ(seen[0].outcome, "redirect-301") << describe(seen);
  EXPECT_EQ(count_outcome(seen, "redirect-301"), 1u) << describe(seen);
  EXPECT_EQ(seen.back().region, "eu-west-3") << describe(seen);
}

// A configured region that is right is used from the first request: no redirect at all.
TEST_F(S3Regions, RightConfiguredRegionNeedsNoRedirect) {
  const std::string kEuBucket = "mmapurl-right-config-bucket";
  make_bucket(kEuBucket);
  ASSERT_TRUE(server_->set_bucket_regions({{kEuBucket, "eu-north-1"}}, 301));
  ASSERT_TRUE(
      mmapurl::testing::write_file(dir_->file("config"), "[default]\nregion = eu-north-1\n"));
  size_t log_start = server_->request_log().size();
  expect_mapping_works(kEuBucket, "first.bin");
  auto seen = requests_for(kEuBucket, log_start);
  ASSERT_FALSE(seen.empty());
  for (const auto& r : seen) {
    EXPECT_EQ(r.region, "eu-north-1") << describe(seen);
    EXPECT_EQ(r.outcome, "forwarded") << describe(seen);
  }
}

// The fixture's own premise: HeadBucket names the region, as S3 does (awscli's view of it).
TEST_F(S3Regions, FixtureHeadBucketNamesTheRegion) {
  std::string error;
  ASSERT_TRUE(server_->create_bucket("mmapurl-head-bucket", &error)) << error;
  ASSERT_TRUE(server_->set_bucket_regions({{"mmapurl-head-bucket", "ap-south-1"}}, 301));
  auto result = server_->aws({"s3api", "head-bucket", "--bucket", "mmapurl-head-bucket", "--region",
                              "ap-south-1", "--debug"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("'x-amz-bucket-region': 'ap-south-1'"), std::string::npos)
      << result.err.substr(0, 4000);
}

}  // namespace
