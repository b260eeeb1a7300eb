// Self-test of the real-server fixtures (tests/fixtures/): each server starts, serves what it
// should, and the S3 proxy accepts botocore's signatures and refuses bad or missing ones.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "fixtures/nginx_server.hpp"
#include "fixtures/plain_http_client.hpp"
#include "fixtures/process.hpp"
#include "fixtures/python_http_server.hpp"
#include "fixtures/s3_server.hpp"

namespace mmapurl::testing {
namespace {

constexpr const char* kCurl = "/usr/bin/curl";

// Bytes 0..n-1 of a pattern that differs at every offset of a small file.
std::string pattern_bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return s;
}

struct Docroot {
  std::unique_ptr<TempDir> dir;
  std::string content;
};

Docroot make_docroot() {
  std::string error;
  Docroot d{TempDir::create("mmapurl-selftest-doc", &error), pattern_bytes(100000)};
  EXPECT_NE(d.dir, nullptr) << error;
  if (d.dir) {
    EXPECT_TRUE(write_file(d.dir->file("blob.bin"), d.content));
  }
  return d;
}

// curl with an explicit CA and no user config; returns stdout (headers with -i, or body).
RunResult curl(const std::string& scratch, std::vector<std::string> args) {
  SpawnOptions options;
  options.argv = {kCurl, "-q", "-sS"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env_overrides = {{"CURL_CA_BUNDLE", std::nullopt}, {"SSL_CERT_FILE", std::nullopt},
                           {"SSL_CERT_DIR", std::nullopt},   {"http_proxy", std::nullopt},
                           {"https_proxy", std::nullopt},    {"HTTPS_PROXY", std::nullopt},
                           {"all_proxy", std::nullopt},      {"ALL_PROXY", std::nullopt}};
  return run_program(options, scratch, std::chrono::seconds(30));
}

// nginx over a docroot holding blob.bin, for one test.
class NginxFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!program_exists("/usr/sbin/nginx") || !program_exists(kCurl)) {
      GTEST_SKIP() << "needs /usr/sbin/nginx and /usr/bin/curl (apt-get install nginx curl)";
    }
    doc_ = make_docroot();
    ASSERT_NE(doc_.dir, nullptr);
    std::string error;
    server_ = NginxServer::start(doc_.dir->path(), &error);
    ASSERT_NE(server_, nullptr) << error;
  }
  const std::string& scratch() const { return doc_.dir->path(); }

  Docroot doc_;
  std::unique_ptr<NginxServer> server_;
};

TEST_F(NginxFixture, ServesTheFileOverHttpsToAClientTrustingTheTestCa) {
  RunResult whole =
      curl(scratch(), {"--cacert", server_->ca_file(), server_->https_url("/blob.bin")});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(whole.out, doc_.content);
}

TEST_F(NginxFixture, AnswersARangeWith206AndThoseBytes) {
  RunResult ranged =
      curl(scratch(), {"--cacert", server_->ca_file(), "-o", "/dev/null", "-w", "%{http_code}",
                       "-r", "1000-1999", server_->https_url("/blob.bin")});
  EXPECT_EQ(ranged.out, "206") << ranged.err;
  RunResult range_body = curl(scratch(), {"--cacert", server_->ca_file(), "-r", "1000-1999",
                                          server_->https_url("/blob.bin")});
  EXPECT_EQ(range_body.out, doc_.content.substr(1000, 1000));
}

// Without the test CA the certificate must not verify: the fixture is real TLS.
TEST_F(NginxFixture, AClientWithoutTheTestCaRefusesTheCertificate) {
  RunResult untrusted = curl(
      scratch(), {"--cacert", "/dev/null", "-o", "/dev/null", server_->https_url("/blob.bin")});
  EXPECT_NE(untrusted.exit_code, 0);
}

TEST_F(NginxFixture, RedirectLocationAnswers302ToThePathBehindIt) {
  auto redirect = plain_http_request(server_->http_port(), "GET", "/redirect/blob.bin");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 302);
  EXPECT_EQ(redirect->header("Location").value_or(""), server_->http_url("/blob.bin"));
}

TEST_F(NginxFixture, ForbiddenLocationAnswers403) {
  auto forbidden = plain_http_request(server_->http_port(), "GET", "/forbidden/blob.bin");
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->status, 403);
}

TEST_F(NginxFixture, AfterAHardKillRestartServesAgainOnTheSamePort) {
  std::string error;
  server_->kill_hard();
  EXPECT_FALSE(plain_http_request(server_->http_port(), "GET", "/blob.bin"));
  ASSERT_TRUE(server_->restart(&error)) << error;
  auto again = plain_http_request(server_->http_port(), "GET", "/blob.bin");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(again->body, doc_.content);
}

TEST(PythonServerFixture, AnswersARangeWith200AndTheWholeFile) {
  if (!program_exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
  Docroot doc = make_docroot();
  ASSERT_NE(doc.dir, nullptr);
  std::string error;
  auto server = PythonHttpServer::start(doc.dir->path(), &error);
  ASSERT_NE(server, nullptr) << error;
  auto response = plain_http_request(server->port(), "GET", "/blob.bin", {{"Range", "bytes=5-9"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, doc.content);
}

// One s3rver behind the SigV4-verifying proxy for the suite, with bucket "selftest" holding an
// awkward key uploaded by awscli (so its signing passes the proxy too).
class S3Fixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* program : {"/usr/bin/python3", "/usr/bin/aws"}) {
      if (!program_exists(program)) return;
    }
    std::string error;
    auto s3 = S3Server::start(&error);
    ASSERT_NE(s3, nullptr) << error;
    ASSERT_TRUE(s3->create_bucket("selftest", &error)) << error;
    ASSERT_TRUE(s3->put_object_content("selftest", kKey, content(), &error)) << error;
    s3_ = s3.release();
  }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
  }
  void SetUp() override {
    for (const char* program : {"/usr/bin/python3", "/usr/bin/aws"}) {
      if (!program_exists(program)) GTEST_SKIP() << "needs " << program;
    }
    ASSERT_NE(s3_, nullptr) << "the S3 fixture did not start";
  }

  static const std::string& content() {
    static const std::string bytes = pattern_bytes(70000);
    return bytes;
  }

  static constexpr const char* kKey = "dir one/a+b=c&d~e;f,g(h)%i/\xc3\xbc//x/trail/";
  // kKey as S3 wants it on the wire.
  static constexpr const char* kTarget =
      "/selftest/dir%20one/a%2Bb%3Dc%26d~e%3Bf%2Cg%28h%29%25i/%C3%BC//x/trail/";
  static S3Server* s3_;
};

S3Server* S3Fixture::s3_ = nullptr;

// A presigned URL from `aws s3 presign` works without any header: the awkward key round-trips
// awscli upload -> proxy -> s3rver -> GET.
TEST_F(S3Fixture, APresignedUrlFromAwscliReadsTheAwkwardKeyWithoutHeaders) {
  auto presigned = s3_->presign_get_url("selftest", kKey, 600);
  ASSERT_TRUE(presigned);
  const std::string prefix = s3_->endpoint_url();
  ASSERT_EQ(presigned->compare(0, prefix.size(), prefix), 0) << *presigned;
  EXPECT_NE(presigned->find("X-Amz-Signature="), std::string::npos) << *presigned;
  auto by_url = plain_http_request(s3_->port(), "GET", presigned->substr(prefix.size()));
  ASSERT_TRUE(by_url);
  EXPECT_EQ(by_url->status, 200) << by_url->body;
  EXPECT_EQ(by_url->body, content());
  EXPECT_GE(s3_->requests_verified(), 3u);  // create-bucket, put-object, presigned GET
}

// Counted as anonymous, not as verified (admin calls: nowhere).
TEST_F(S3Fixture, AnUnsignedRequestIsRefusedUnlessAnonymousAccessIsAllowed) {
  auto before = s3_->stats();
  ASSERT_TRUE(before);
  auto anonymous = plain_http_request(s3_->port(), "GET", kTarget);
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 403);
  EXPECT_NE(anonymous->body.find("<Code>AccessDenied</Code>"), std::string::npos);
  ASSERT_TRUE(s3_->allow_anonymous(true));
  auto allowed = plain_http_request(s3_->port(), "GET", kTarget);
  ASSERT_TRUE(s3_->allow_anonymous(false));
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(allowed->body, content());
  auto stats = s3_->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->rejected, before->rejected + 1);
  EXPECT_EQ(stats->verified, before->verified);
  EXPECT_EQ(stats->anonymous, before->anonymous + 1);
}

// A well-formed SigV4 header whose signature is wrong.
TEST_F(S3Fixture, AWrongSignatureIsSignatureDoesNotMatch) {
  auto before = s3_->stats();
  ASSERT_TRUE(before);
  char amz_date[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &utc);
  const std::string empty_sha256 =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto forged = plain_http_request(
      s3_->port(), "GET", "/selftest/anything",
      {{"x-amz-date", amz_date},
       {"x-amz-content-sha256", empty_sha256},
       {"Authorization", "AWS4-HMAC-SHA256 Credential=" + s3_->access_key_id() + "/" +
                             std::string(amz_date, 8) +
                             "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;"
                             "x-amz-date, Signature=" +
                             std::string(64, '0')}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_NE(forged->body.find("<Code>SignatureDoesNotMatch</Code>"), std::string::npos)
      << forged->body;
  auto stats = s3_->stats();
  ASSERT_TRUE(stats);
  EXPECT_NE(stats->last_rejection.find("SignatureDoesNotMatch"), std::string::npos)
      << stats->last_rejection;
  EXPECT_EQ(stats->rejected, before->rejected + 1);
  EXPECT_EQ(stats->verified, before->verified);
}

// botocore's client against the proxy: many awkward keys, ranges, presigned URLs, session
// tokens, and replayed/tampered signatures that must be refused.
TEST_F(S3Fixture, BotocoresClientCheckPasses) {
  std::string scratch = s3_->proxy_log_path() + ".d";
  ASSERT_TRUE(std::filesystem::create_directory(scratch));
  SpawnOptions check;
  check.argv = {"/usr/bin/python3",
                s3_fixture_dir() + "/botocore_client_check.py",
                "--endpoint",
                s3_->endpoint_url(),
                "--access-key-id",
                s3_->access_key_id(),
                "--secret-access-key",
                s3_->secret_access_key(),
                "--bucket",
                "selftest"};
  check.env_overrides = {{"PYTHONPATH", std::nullopt},
                         {"PYTHONDONTWRITEBYTECODE", "1"},
                         {"http_proxy", std::nullopt},
                         {"no_proxy", std::nullopt},
                         {"HTTP_PROXY", std::nullopt}};
  RunResult checked = run_program(check, scratch, std::chrono::seconds(60));
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("ok: "), std::string::npos) << checked.out;
}

}  // namespace
}  // namespace mmapurl::testing
