// Endpoint resolution: AWS virtual-hosted by default, path style for custom endpoints, dotted
// buckets over TLS, legacy names and MMAPURL_S3_ADDRESSING=path; keys encoded exactly once.
#include <gtest/gtest.h>

#include "source/s3/addressing/s3_endpoint.hpp"

namespace mmapurl::s3 {
namespace {

S3Endpoint resolve_ok(std::string_view bucket, std::string_view key, const S3Settings& settings) {
  auto result = resolve_endpoint(bucket, key, settings);
  EXPECT_TRUE(result.endpoint.has_value()) << result.error;
  return result.endpoint.value_or(S3Endpoint{});
}

TEST(S3Endpoint, AwsVirtualHosted) {
  S3Settings settings;
  settings.region = "eu-west-1";
  auto ep = resolve_ok("my-bucket", "dir/file.bin", settings);
  EXPECT_EQ(ep.scheme, "https");
  EXPECT_EQ(ep.host, "my-bucket.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(ep.port, 443);
  EXPECT_FALSE(ep.path_style);
  EXPECT_EQ(ep.host_header, "my-bucket.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(ep.request_target, "/dir/file.bin");
  EXPECT_EQ(ep.region, "eu-west-1");
}

TEST(S3Endpoint, DefaultRegionAndChina) {
  EXPECT_EQ(resolve_ok("b-1", "k", S3Settings{}).host, "b-1.s3.us-east-1.amazonaws.com");
  S3Settings china;
  china.region = "cn-north-1";
  EXPECT_EQ(resolve_ok("b-1", "k", china).host, "b-1.s3.cn-north-1.amazonaws.com.cn");
}

TEST(S3Endpoint, KeyEncodedOnceWithSlashesKept) {
  auto ep = resolve_ok("bucket", "a b+c=d&e~f;g,(h)%i/\xc3\xa9//end/", S3Settings{});
  EXPECT_EQ(ep.request_target, "/a%20b%2Bc%3Dd%26e~f%3Bg%2C%28h%29%25i/%C3%A9//end/");
  EXPECT_EQ(resolve_ok("bucket", "/lead", S3Settings{}).request_target, "//lead");
  EXPECT_EQ(resolve_ok("bucket", "./x/../y", S3Settings{}).request_target, "/./x/../y");
}

TEST(S3Endpoint, DottedBucketOverTlsUsesPathStyle) {
  auto ep = resolve_ok("my.dotted.bucket", "k", S3Settings{});
  EXPECT_TRUE(ep.path_style);
  EXPECT_EQ(ep.host, "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(ep.request_target, "/my.dotted.bucket/k");
}

TEST(S3Endpoint, LegacyBucketUsesPathStyle) {
  auto ep = resolve_ok("Legacy_Bucket", "k", S3Settings{});
  EXPECT_TRUE(ep.path_style);
  EXPECT_EQ(ep.host, "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(ep.request_target, "/Legacy_Bucket/k");
}

TEST(S3Endpoint, ForcedPathStyle) {
  S3Settings settings;
  settings.addressing = S3AddressingStyle::kPath;
  auto ep = resolve_ok("bucket", "k", settings);
  EXPECT_TRUE(ep.path_style);
  EXPECT_EQ(ep.host_header, "s3.us-east-1.amazonaws.com");
  EXPECT_EQ(ep.request_target, "/bucket/k");
}

TEST(S3Endpoint, CustomEndpointIsPathStyle) {
  S3Settings settings;
  settings.endpoint_url = "http://127.0.0.1:9000";
  auto ep = resolve_ok("bucket", "some key", settings);
  EXPECT_EQ(ep.scheme, "http");
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, 9000);
  EXPECT_TRUE(ep.path_style);
  EXPECT_EQ(ep.host_header, "127.0.0.1:9000");
  EXPECT_EQ(ep.request_target, "/bucket/some%20key");
}

TEST(S3Endpoint, CustomEndpointDetails) {
  S3Settings settings;
  settings.endpoint_url = "HTTPS://minio.example.test/base/path/";
  auto ep = resolve_ok("bucket", "k", settings);
  EXPECT_EQ(ep.scheme, "https");
  EXPECT_EQ(ep.port, 443);
  EXPECT_EQ(ep.host_header, "minio.example.test");
  EXPECT_EQ(ep.request_target, "/base/path/bucket/k");

  settings.endpoint_url = "https://minio.example.test:443";
  EXPECT_EQ(resolve_ok("bucket", "k", settings).host_header, "minio.example.test");

  settings.endpoint_url = "http://[::1]:8080";
  ep = resolve_ok("bucket", "k", settings);
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.host_header, "[::1]:8080");
  EXPECT_TRUE(ep.path_style);

  settings.endpoint_url = "http://storage.test:8080";
  settings.addressing = S3AddressingStyle::kVirtual;
  ep = resolve_ok("bucket", "k", settings);
  EXPECT_FALSE(ep.path_style);
  EXPECT_EQ(ep.host_header, "bucket.storage.test:8080");
  EXPECT_EQ(ep.request_target, "/k");
}

TEST(S3Endpoint, RejectsBadInput) {
  S3Settings settings;
  EXPECT_FALSE(resolve_endpoint("a", "k", settings).endpoint.has_value());
  settings.region = "us-east-1.evil.test/";
  EXPECT_FALSE(resolve_endpoint("bucket", "k", settings).endpoint.has_value());
  settings.region = "us-east-1";
  for (const char* url : {"ftp://x", "localhost:9000", "http://", "http://h:0", "http://h:99999",
                          "http://h:12ab", "http://user@h", "http://h/?q", "http://[::1"}) {
    settings.endpoint_url = url;
    auto result = resolve_endpoint("bucket", "k", settings);
    EXPECT_FALSE(result.endpoint.has_value()) << url;
    EXPECT_FALSE(result.error.empty()) << url;
  }
}

}  // namespace
}  // namespace mmapurl::s3
