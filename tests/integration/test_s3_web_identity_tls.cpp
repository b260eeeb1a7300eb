// Web identity (STS AssumeRoleWithWebIdentity) over HTTPS, as against the real STS: the provider
// POSTs the role and token to an https:// STS endpoint (tests/fixtures/s3/sts_web_identity_
// server.py, a certificate from a throw-away CA the client trusts through SSL_CERT_FILE), and the
// session credentials it gets must then pass the SigV4-verifying proxy in front of s3rver.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "fixtures/test_cert.hpp"
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
using mmapurl::testing::ChildProcess;
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;

const char* const kBucket = "mmapurl-web-identity";
const char* const kRoleArn = "arn:aws:iam::123456789012:role/mmapurl-tls";
const char* const kOidcToken = "eyJhbGciOiJSUzI1NiJ9.tls-test.signature";
const char* const kSessionToken = "session-token-from-https-sts";

class S3WebIdentityTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    s3_ = S3TestEnvironment::start("mmapurl-s3-sts-tls", {kBucket}, &error).release();
    ASSERT_NE(s3_, nullptr) << error;
    server_ = &s3_->server();
    dir_ = &s3_->dir();
    *content_ = random_bytes(1024 * 1024 + 7, 77);
    ASSERT_TRUE(s3_->put(kBucket, "object.bin", *content_));
    ASSERT_TRUE(mmapurl::testing::generate_test_certificates(dir_->path(), certs_, &error))
        << error;
    sts_ = start_sts(&error).release();
    ASSERT_NE(sts_, nullptr) << error;
  }
  static void TearDownTestSuite() {
    delete sts_;
    sts_ = nullptr;
    delete s3_;
    s3_ = nullptr;
    server_ = nullptr;
    dir_ = nullptr;
  }

  // The STS script, handing out the S3 fixture's keys with a session token the proxy requires.
  static std::unique_ptr<ChildProcess> start_sts(std::string* error) {
    mmapurl::testing::SpawnOptions options;
    options.argv = {"/usr/bin/python3",
                    mmapurl::testing::s3_fixture_dir() + "/sts_web_identity_server.py",
                    "--cert",
                    certs_->server_cert,
                    "--key",
                    certs_->server_key,
                    "--port-file",
                    dir_->file("sts.port"),
                    "--request-log",
                    dir_->file("sts.log"),
                    "--role-arn",
                    kRoleArn,
                    "--web-identity-token",
                    kOidcToken,
                    "--access-key-id",
                    server_->access_key_id(),
                    "--secret-access-key",
                    server_->secret_access_key(),
                    "--session-token",
                    kSessionToken};
    options.env_overrides = {{"PYTHONPATH", std::nullopt}, {"PYTHONDONTWRITEBYTECODE", "1"}};
    options.stdout_path = dir_->file("sts.out");
    auto child = ChildProcess::spawn(options, error);
    if (!child) return nullptr;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && child->running()) {
      if (auto port = mmapurl::testing::read_file(dir_->file("sts.port"))) {
        sts_port_ = static_cast<uint16_t>(std::strtoul(port->c_str(), nullptr, 10));
        return child;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (error) {
      *error = "the STS script did not start: " +
               mmapurl::testing::read_file(dir_->file("sts.out")).value_or("");
    }
    return nullptr;
  }

  // No keys: the web identity provider's, from the STS over HTTPS, whose session token the
  // proxy requires.
  void SetUp() override {
    ASSERT_NE(sts_, nullptr);
    mmapurl::itest::S3Client client;
    client.keys = false;
    ASSERT_TRUE(s3_->prepare(client));
    set_env("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:" + std::to_string(sts_port_));
    ASSERT_TRUE(mmapurl::testing::write_file(dir_->file("oidc-token"), std::string(kOidcToken)));
    set_env("AWS_ROLE_ARN", kRoleArn);
    set_env("AWS_WEB_IDENTITY_TOKEN_FILE", dir_->file("oidc-token"));
    ASSERT_TRUE(server_->require_session_token(kSessionToken, std::nullopt));
  }

  static int map_object() {
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3((std::string("s3://") + kBucket + "/object.bin").c_str(), &size, &err);
    if (p == MAP_FAILED) return err;
    EXPECT_EQ(size, content_->size());
    EXPECT_EQ(std::memcmp(p, content_->data(), size), 0);
    EXPECT_EQ(munmap_s3(p), 0);
    return MMAP_S3_OK;
  }

  static std::string sts_log() {
    return mmapurl::testing::read_file(dir_->file("sts.log")).value_or("");
  }

  static S3TestEnvironment* s3_;
  static S3Server* server_;
  static TempDir* dir_;
  static ChildProcess* sts_;
  static uint16_t sts_port_;
  static mmapurl::testing::TestCertFiles* certs_;
  static std::string* content_;
};

S3TestEnvironment* S3WebIdentityTls::s3_ = nullptr;
S3Server* S3WebIdentityTls::server_ = nullptr;
TempDir* S3WebIdentityTls::dir_ = nullptr;
ChildProcess* S3WebIdentityTls::sts_ = nullptr;
uint16_t S3WebIdentityTls::sts_port_ = 0;
mmapurl::testing::TestCertFiles* S3WebIdentityTls::certs_ = new mmapurl::testing::TestCertFiles;
std::string* S3WebIdentityTls::content_ = new std::string;

TEST_F(S3WebIdentityTls, CredentialsFromHttpsStsMapTheObject) {
  set_env("SSL_CERT_FILE", certs_->ca_cert);
  uint64_t rejected_before = server_->requests_rejected();
  ASSERT_EQ(map_object(), MMAP_S3_OK) << describe_failure(MMAP_S3_PERMISSION_ERROR);
  EXPECT_EQ(server_->requests_rejected(), rejected_before) << server_->stats()->last_rejection;
  std::string log = sts_log();
  EXPECT_NE(log.find("\"Action\": \"AssumeRoleWithWebIdentity\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"WebIdentityToken\": \"matches\""), std::string::npos) << log;
  EXPECT_NE(log.find("application/x-www-form-urlencoded"), std::string::npos) << log;
  // The STS credentials are cached: a second mapping asks STS nothing.
  size_t calls = std::count(log.begin(), log.end(), '\n');
  ASSERT_EQ(map_object(), MMAP_S3_OK);
  std::string after = sts_log();
  EXPECT_EQ(static_cast<size_t>(std::count(after.begin(), after.end(), '\n')), calls);
}

// An STS certificate the client does not trust: no credentials (never a plaintext fallback), a
// permission error that names the web identity provider.
TEST_F(S3WebIdentityTls, UntrustedStsCertificateIsAPermissionError) {
  // Credentials fetched by another test of this process would be reused: start afresh.
  if (!mmapurl::itest::in_fresh_process()) {
    ASSERT_TRUE(mmapurl::itest::run_current_test_in_fresh_process());
    return;
  }
  set_env("SSL_CERT_FILE", certs_->server_cert);  // a leaf, not the CA that signed it
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3((std::string("s3://") + kBucket + "/object.bin").c_str(), &size, &err);
  EXPECT_EQ(p, MAP_FAILED);
  EXPECT_EQ(err, MMAP_S3_PERMISSION_ERROR);
  std::string message = mmapurl_last_error_message();
  EXPECT_NE(message.find("web identity"), std::string::npos) << message;
  EXPECT_EQ(message.find(kOidcToken), std::string::npos) << message;
  EXPECT_EQ(sts_log().find("AssumeRoleWithWebIdentity"), std::string::npos) << sts_log();
}

}  // namespace
