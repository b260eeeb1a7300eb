// The S3 test environment: one s3rver behind the SigV4-verifying proxy (fixtures/s3_server.hpp)
// for a test suite, with its buckets, and the whole client environment a test depends on, set
// afresh before each test. A suite keeps one in a static pointer:
//
//   static void SetUpTestSuite() {
//     std::string error;
//     s3_ = S3TestEnvironment::start("mmapurl-s3-x", {kBucket}, &error).release();
//     ASSERT_NE(s3_, nullptr) << error;
//   }
//   void SetUp() override {
//     S3Client client;
//     client.keys = false;  // say what differs from the defaults
//     ASSERT_TRUE(s3_->prepare(client));
//   }
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "integration/mapping_test_support.hpp"

namespace mmapurl::itest {

// Every variable of the AWS environment the engine's S3 client reads (source/s3/), unset before
// each test so the caller's never matter.
inline constexpr const char* kS3ClientVariables[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CA_BUNDLE",
    "AWS_NO_SIGN_REQUEST",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "MMAPURL_S3_ADDRESSING",
};

// What the client finds in its environment besides the endpoint (AWS_ENDPOINT_URL_S3, always the
// proxy) and IMDS (always off: AWS_EC2_METADATA_DISABLED=true).
struct S3Client {
  // AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: the server's. False: no keys in the environment
  // (a test of another credential provider sets its own).
  bool keys = true;
  // AWS_REGION: the server's (us-east-1). False: no region anywhere.
  bool region = true;
  // The contents of AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE (both set, so ~/.aws never
  // matters).
  std::string config;
  std::string credentials;
};

class S3TestEnvironment {
 public:
  // Starts s3rver and its proxy (from the calling, main, thread) with `buckets` made, and a
  // directory `name`-XXXX for the client's files. nullptr and *error on failure.
  static std::unique_ptr<S3TestEnvironment> start(const std::string& name,
                                                  const std::vector<std::string>& buckets,
                                                  std::string* error) {
    auto env = std::unique_ptr<S3TestEnvironment>(new S3TestEnvironment());
    env->dir_ = testing::TempDir::create(name, error);
    if (!env->dir_) return nullptr;
    env->server_ = testing::S3Server::start(error);
    if (!env->server_) return nullptr;
    for (const auto& bucket : buckets) {
      if (!env->server_->create_bucket(bucket, error)) return nullptr;
    }
    return env;
  }

  testing::S3Server& server() { return *server_; }
  testing::TempDir& dir() { return *dir_; }

  // Before each test: the proxy back to its defaults (no session token required, anonymous
  // requests refused, AWS's answer to a range of an empty object, no injected errors), then the
  // client environment set whole as `client` says: every variable of kS3ClientVariables and the
  // proxy variables unset, the endpoint, keys, region, IMDS off, and both AWS files written.
  ::testing::AssertionResult prepare(const S3Client& client = {}) {
    if (!server_->require_session_token("", std::nullopt) || !server_->allow_anonymous(false) ||
        !server_->set_empty_range_answer("invalid-range") ||
        !server_->inject_errors("HEAD", 200, "", 0)) {
      return ::testing::AssertionFailure() << "the S3 proxy refused its default configuration";
    }
    for (const char* name : kS3ClientVariables) unset_env(name);
    unset_proxy_environment();
    set_env("AWS_ENDPOINT_URL_S3", server_->endpoint_url());
    if (client.keys) {
      set_env("AWS_ACCESS_KEY_ID", server_->access_key_id());
      set_env("AWS_SECRET_ACCESS_KEY", server_->secret_access_key());
    }
    if (client.region) set_env("AWS_REGION", server_->region());
    set_env("AWS_EC2_METADATA_DISABLED", "true");
    return write_aws_files(client.config, client.credentials);
  }

  // Writes the shared config and credentials files and points the client at both.
  ::testing::AssertionResult write_aws_files(const std::string& config,
                                             const std::string& credentials) {
    if (!testing::write_file(dir_->file("config"), config) ||
        !testing::write_file(dir_->file("credentials"), credentials)) {
      return ::testing::AssertionFailure() << "cannot write the AWS files in " << dir_->path();
    }
    set_env("AWS_CONFIG_FILE", dir_->file("config"));
    set_env("AWS_SHARED_CREDENTIALS_FILE", dir_->file("credentials"));
    return ::testing::AssertionSuccess();
  }

  // Uploads `content` as `key` of `bucket` (with awscli, whose signature the proxy checks too).
  ::testing::AssertionResult put(const std::string& bucket, const std::string& key,
                                 const std::string& content) {
    std::string error;
    if (server_->put_object_content(bucket, key, content, &error)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << bucket << "/" << key << ": " << error;
  }

  static std::string url(const std::string& bucket, const std::string& key) {
    return "s3://" + bucket + "/" + key;
  }

 private:
  S3TestEnvironment() = default;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<testing::S3Server> server_;
};

}  // namespace mmapurl::itest
