// The network credential providers end to end: IMDSv2, container credentials and STS web
// identity served by small loopback HTTP endpoints of the test's own, handing out the S3
// fixture's keys; then a mapping that must succeed. Also a session that expires mid-read.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
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
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;
using SystemClock = std::chrono::system_clock;
constexpr size_t kPage = 4096;
const char* const kBucket = "mmapurl-providers";

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// A one-thread HTTP/1.1 server on 127.0.0.1 (one request per connection), answering with
// `handler` and recording every request.
class LoopbackHttpServer {
 public:
  using Handler = std::function<Answer(const SeenRequest&)>;

  explicit LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~LoopbackHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  bool ok() const { return fd_ >= 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      handle(client);
      ::close(client);
    }
  }

  void handle(int client) {
    timeval tv{5, 0};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string data;
    char buffer[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower_head = data.substr(0, header_end);
          for (char& c : lower_head)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t cl = lower_head.find("content-length:");
          if (cl != std::string::npos)
            content_length = std::strtoul(lower_head.c_str() + cl + 15, nullptr, 10);
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
      ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) return;
      data.append(buffer, static_cast<size_t>(n));
    }
    SeenRequest request;
    size_t line_end = data.find("\r\n");
    std::string request_line = data.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.find(' ', sp1 + 1);
    request.method = request_line.substr(0, sp1);
    request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end + 2;
    while (pos < header_end) {
      size_t next = data.find("\r\n", pos);
      std::string header = data.substr(pos, next - pos);
      size_t colon = header.find(':');
      if (colon != std::string::npos) {
        std::string name = header.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = header.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        request.headers[name] = value;
      }
      pos = next + 2;
    }
    request.body = data.substr(header_end + 4, content_length);
    Answer answer = handler_(request);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    std::string response = "HTTP/1.1 " + std::to_string(answer.status) +
                           " X\r\nContent-Type: " + answer.content_type +
                           "\r\nContent-Length: " + std::to_string(answer.body.size()) +
                           "\r\nConnection: close\r\n\r\n" + answer.body;
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<SeenRequest> requests_;
};

std::string iso8601(SystemClock::time_point t) {
  std::time_t seconds = SystemClock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

SystemClock::time_point whole_seconds(SystemClock::time_point t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

class S3CredentialProviders : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    s3_ = S3TestEnvironment::start("mmapurl-s3-providers", {kBucket}, &error).release();
    ASSERT_NE(s3_, nullptr) << error;
    server_ = &s3_->server();
    dir_ = &s3_->dir();
    content_ = random_bytes(3 * 1024 * 1024 + 11, 99);
    ASSERT_TRUE(s3_->put(kBucket, "object.bin", content_));
  }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
    server_ = nullptr;
    dir_ = nullptr;
  }

  // No credentials anywhere but the provider under test.
  void SetUp() override {
    ASSERT_NE(s3_, nullptr);
    mmapurl::itest::S3Client client;
    client.keys = false;
    ASSERT_TRUE(s3_->prepare(client));
  }

  static std::string credentials_json(const std::string& token, SystemClock::time_point expires) {
    return "{\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"" +
           server_->access_key_id() + "\", \"SecretAccessKey\": \"" + server_->secret_access_key() +
           "\", \"Token\": \"" + token + "\", \"Expiration\": \"" + iso8601(expires) + "\"}";
  }

  // Maps s3://bucket/object.bin and compares every byte.
  void expect_mapping_works() {
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3((std::string("s3://") + kBucket + "/object.bin").c_str(), &size, &err);
    ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
    ASSERT_EQ(size, content_.size());
    EXPECT_EQ(std::memcmp(p, content_.data(), size), 0);
    EXPECT_EQ(munmap_s3(p), 0);
  }

  static S3TestEnvironment* s3_;
  static S3Server* server_;
  static TempDir* dir_;
  static std::string content_;
};

S3TestEnvironment* S3CredentialProviders::s3_ = nullptr;
S3Server* S3CredentialProviders::server_ = nullptr;
TempDir* S3CredentialProviders::dir_ = nullptr;
std::string S3CredentialProviders::content_;

TEST_F(S3CredentialProviders, InstanceMetadataV2) {
  const std::string imds_token = "imds-session-token";
  LoopbackHttpServer imds([&](const SeenRequest& r) -> Answer {
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (!r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) return {400, ""};
      return {200, imds_token, "text/plain"};
    }
    auto token = r.headers.find("x-aws-ec2-metadata-token");
    if (token == r.headers.end() || token->second != imds_token) return {401, ""};
    if (r.target == "/latest/meta-data/iam/security-credentials/") {
      return {200, "test-role\n", "text/plain"};
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/test-role") {
      return {200, credentials_json("token-from-imds", SystemClock::now() + std::chrono::hours(6))};
    }
    return {404, ""};
  });
  ASSERT_TRUE(imds.ok());
  unset_env("AWS_EC2_METADATA_DISABLED");
  set_env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
  ASSERT_TRUE(server_->require_session_token("token-from-imds", std::nullopt));
  uint64_t rejected_before = server_->requests_rejected();
  expect_mapping_works();
  EXPECT_EQ(server_->requests_rejected(), rejected_before);
  auto seen = imds.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[1].target, "/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(seen[2].target, "/latest/meta-data/iam/security-credentials/test-role");
  // A second mapping reuses the cached credentials: no new metadata requests.
  expect_mapping_works();
  EXPECT_EQ(imds.requests().size(), 3u);
}

TEST_F(S3CredentialProviders, ContainerCredentialsWithAuthorizationToken) {
  LoopbackHttpServer agent([&](const SeenRequest& r) -> Answer {
    auto auth = r.headers.find("authorization");
    if (auth == r.headers.end() || auth->second != "container-auth-xyz") return {401, ""};
    if (r.method != "GET" || r.target != "/v1/credentials") return {404, ""};
    return {200,
            credentials_json("token-from-container", SystemClock::now() + std::chrono::hours(6))};
  });
  ASSERT_TRUE(agent.ok());
  set_env("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url() + "/v1/credentials");
  set_env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-xyz");
  ASSERT_TRUE(server_->require_session_token("token-from-container", std::nullopt));
  uint64_t rejected_before = server_->requests_rejected();
  expect_mapping_works();
  EXPECT_EQ(server_->requests_rejected(), rejected_before);
  EXPECT_EQ(agent.requests().size(), 1u);
}

TEST_F(S3CredentialProviders, WebIdentityThroughSts) {
  ASSERT_TRUE(mmapurl::testing::write_file(dir_->file("oidc-token"), "oidc.jwt.token\n"));
  const std::string role_arn = "arn:aws:iam::123456789012:role/mmapurl-test";
  LoopbackHttpServer sts([&](const SeenRequest& r) -> Answer {
    if (r.method != "POST") return {405, ""};
    if (r.body.find("Action=AssumeRoleWithWebIdentity") == std::string::npos ||
        r.body.find("WebIdentityToken=oidc.jwt.token") == std::string::npos ||
        r.body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmmapurl-test") ==
            std::string::npos) {
      return {400,
              "<ErrorResponse><Error><Code>InvalidParameterValue</Code><Message>bad</Message>"
              "</Error></ErrorResponse>",
              "text/xml"};
    }
    return {200,
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
            "<AccessKeyId>" +
                server_->access_key_id() + "</AccessKeyId><SecretAccessKey>" +
                server_->secret_access_key() +
                "</SecretAccessKey><SessionToken>token-from-sts</SessionToken><Expiration>" +
                iso8601(SystemClock::now() + std::chrono::hours(1)) +
                "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                "</AssumeRoleWithWebIdentityResponse>",
            "text/xml"};
  });
  ASSERT_TRUE(sts.ok());
  set_env("AWS_ROLE_ARN", role_arn);
  set_env("AWS_WEB_IDENTITY_TOKEN_FILE", dir_->file("oidc-token"));
  set_env("AWS_ENDPOINT_URL_STS", sts.url());
  ASSERT_TRUE(server_->require_session_token("token-from-sts", std::nullopt));
  uint64_t rejected_before = server_->requests_rejected();
  expect_mapping_works();
  EXPECT_EQ(server_->requests_rejected(), rejected_before);
  EXPECT_EQ(sts.requests().size(), 1u);
}

TEST_F(S3CredentialProviders, ProviderFailureIsAPermissionErrorNamingIt) {
  LoopbackHttpServer agent([](const SeenRequest&) -> Answer { return {500, "{}"}; });
  ASSERT_TRUE(agent.ok());
  set_env("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url() + "/v1/credentials");
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3((std::string("s3://") + kBucket + "/object.bin").c_str(), &size, &err);
  EXPECT_EQ(p, MAP_FAILED);
  EXPECT_EQ(err, MMAP_S3_PERMISSION_ERROR);
  std::string message = mmapurl_last_error_message();
  EXPECT_NE(message.find("container credentials"), std::string::npos) << message;
}

// Credentials that expire a few seconds after the mapping: the refresher fetches new ones before
// they do, and pages read after the expiry arrive with the new session token.
TEST_F(S3CredentialProviders, CredentialsExpiringMidReadAreRefreshed) {
  const auto first_expiry = whole_seconds(SystemClock::now() + std::chrono::seconds(6));
  std::atomic<int> calls{0};
  std::atomic<bool> switch_failed{false};
  LoopbackHttpServer agent([&](const SeenRequest&) -> Answer {
    if (calls.fetch_add(1) == 0) return {200, credentials_json("first-token", first_expiry)};
    // The service starts honouring the new token the moment it is handed out.
    if (!server_->require_session_token("second-token", std::nullopt)) switch_failed = true;
    return {200, credentials_json("second-token", SystemClock::now() + std::chrono::hours(1))};
  });
  ASSERT_TRUE(agent.ok());
  set_env("AWS_CONTAINER_CREDENTIALS_FULL_URI", agent.url() + "/v1/credentials");
  ASSERT_TRUE(server_->require_session_token("first-token", first_expiry));
  // The proxy serves the whole suite: this test's requests are the log lines after these.
  const size_t log_start = server_->request_log().size();

  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3((std::string("s3://") + kBucket + "/object.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(size, content_.size());
  // Page by page, no readahead, so fetches keep happening until past the first expiry.
  ASSERT_EQ(mmapurl_advise(p, size, MMAPURL_ADVICE_RANDOM), 0);
  const auto* bytes = static_cast<const uint8_t*>(p);
  size_t pages = size / kPage;
  size_t page = 5;
  size_t reads = 0;
  while (SystemClock::now() < first_expiry + std::chrono::seconds(3)) {
    page = (page + 37) % pages;
    ASSERT_EQ(std::memcmp(bytes + page * kPage, content_.data() + page * kPage, kPage), 0)
        << "page " << page;
    ++reads;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(std::memcmp(p, content_.data(), size), 0);
  EXPECT_EQ(munmap_s3(p), 0);
  EXPECT_GE(reads, 30u);
  EXPECT_GE(calls.load(), 2);
  EXPECT_FALSE(switch_failed.load());
  // Nothing was ever refused as expired: the new token was in use before the old one lapsed.
  // Every request of this test in the proxy's log, not only its latest rejection (an early
  // ExpiredToken, retried with success, hides behind a later rejection or behind none at all).
  const auto log = server_->request_log();
  ASSERT_GE(log.size(), log_start);
  std::string expired;
  size_t forwarded = 0;
  for (size_t i = log_start; i < log.size(); ++i) {
    if (log[i].outcome == "rejected-ExpiredToken") {
      expired += log[i].method + " " + log[i].target + "\n";
    }
    forwarded += log[i].outcome == "forwarded";
  }
  EXPECT_EQ(expired, "") << "requests refused as expired";
  // The log must hold this test's reads, or the check above passes vacuously: each read touches
  // a page 37 pages from the last, so nearly all of them are a GET of their own (a few land in
  // the pages the mapping-time probe filled).
  EXPECT_GE(forwarded, reads / 2) << log.size() - log_start << " requests logged";
}

}  // namespace
