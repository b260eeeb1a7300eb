// The credential chain against hostile or odd surroundings, with real sockets and files: a
// container endpoint whose chunked answer announces chunks of nearly 2^64 bytes, a loopback
// endpoint named by "localhost" (a name, checked on what it resolves to), and HOME unset with a
// "~/.aws/config" planted under the working directory.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"
#include "integration/s3_test_support.hpp"
#include "source/s3/config/aws_environment.hpp"
#include "source/s3/credentials/credential_provider_io.hpp"

namespace {

using mmapurl::itest::set_env;
using mmapurl::itest::unset_env;
using mmapurl::testing::TempDir;
using Clock = std::chrono::steady_clock;

// A loopback HTTP server that answers every connection with the same bytes, whatever was
// asked, then closes it.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 8) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      ++connections_;
      timeval tv{5, 0};
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      for (size_t sent = 0; sent < answer_.size();) {
        ssize_t n = ::send(client, answer_.data() + sent, answer_.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::close(client);
    }
  }

  std::string answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

long max_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

class CredentialEndpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    dir_ = TempDir::create("mmapurl-credential-endpoints", &error);
    ASSERT_NE(dir_, nullptr) << error;
    for (const char* name : mmapurl::itest::kS3ClientVariables) unset_env(name);
    mmapurl::itest::unset_proxy_environment();
    set_env("AWS_EC2_METADATA_DISABLED", "true");
    ASSERT_TRUE(mmapurl::testing::write_file(dir_->file("config"), ""));
    ASSERT_TRUE(mmapurl::testing::write_file(dir_->file("credentials"), ""));
    set_env("AWS_CONFIG_FILE", dir_->file("config"));
    set_env("AWS_SHARED_CREDENTIALS_FILE", dir_->file("credentials"));
  }

  std::unique_ptr<TempDir> dir_;
};

// Thousands of chunk-size lines near 2^64: the old parser's size check overflowed and copied
// the rest of the answer once per line (4000 lines: 209 MiB, 4.4 s). Refused at the first.
TEST_F(CredentialEndpoints, AChunkSizeNear2To64IsAQuickClearErrorInBoundedMemory) {
  std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4000; ++i) answer += "fffffffffffffffe\r\n";
  CannedHttpServer agent(answer);
  ASSERT_TRUE(agent.ok());
  set_env("AWS_CONTAINER_CREDENTIALS_FULL_URI",
          "http://127.0.0.1:" + std::to_string(agent.port()) + "/creds");
  long rss_before = max_rss_kib();
  auto start = Clock::now();
  auto resolved =
      mmapurl::s3::resolve_credentials_with_network(mmapurl::s3::process_aws_environment());
  auto took = Clock::now() - start;
  EXPECT_FALSE(resolved.credentials.has_value());
  EXPECT_EQ(agent.connections(), 1);
  EXPECT_NE(resolved.error.find("container credentials: malformed answer"), std::string::npos)
      << resolved.error;
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_LT(max_rss_kib() - rss_before, 32 * 1024) << "KiB more at the peak";
}

// A name is resolved and each address checked: "localhost" (loopback) still works.
TEST_F(CredentialEndpoints, ALoopbackHttpEndpointNamedByAHostNameStillWorks) {
  const std::string json =
      "{\"AccessKeyId\": \"AKIDLOCAL\", \"SecretAccessKey\": \"secret\", \"Token\": \"t\", "
      "\"Expiration\": \"2099-01-01T00:00:00Z\"}";
  // Chunked, as some agents answer: Beast's parser joins the chunks.
  std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  const size_t half = json.size() / 2;
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", half);
  answer += size_line + json.substr(0, half) + "\r\n";
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", json.size() - half);
  answer += size_line + json.substr(half) + "\r\n0\r\n\r\n";
  CannedHttpServer agent(answer);
  ASSERT_TRUE(agent.ok());
  set_env("AWS_CONTAINER_CREDENTIALS_FULL_URI",
          "http://localhost:" + std::to_string(agent.port()) + "/creds");
  auto resolved =
      mmapurl::s3::resolve_credentials_with_network(mmapurl::s3::process_aws_environment());
  ASSERT_TRUE(resolved.credentials.has_value()) << resolved.error;
  EXPECT_EQ(resolved.credentials->access_key_id, "AKIDLOCAL");
  EXPECT_EQ(resolved.provider, "container credentials");
}

// HOME unset: "~/.aws/config" is not "./~/.aws/config". A credential_process planted there
// would run with the application's rights.
TEST_F(CredentialEndpoints, WithHomeUnsetAConfigPlantedUnderTheWorkingDirectoryIsNotRead) {
  const std::string marker = dir_->file("planted-process-ran");
  ASSERT_EQ(::mkdir(dir_->file("~").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir_->file("~/.aws").c_str(), 0700), 0);
  ASSERT_TRUE(mmapurl::testing::write_file(
      dir_->file("~/.aws/config"),
      "[default]\ncredential_process = /bin/sh -c 'touch " + marker +
          "; echo {\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"A\\\", "
          "\\\"SecretAccessKey\\\": \\\"S\\\"}'\n"));
  unset_env("AWS_CONFIG_FILE");
  unset_env("AWS_SHARED_CREDENTIALS_FILE");
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir_->path().c_str()), 0);
  ::unsetenv("HOME");
  auto resolved =
      mmapurl::s3::resolve_credentials_with_network(mmapurl::s3::process_aws_environment());
  if (!saved_home.empty()) ::setenv("HOME", saved_home.c_str(), 1);
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_FALSE(mmapurl::testing::read_file(marker).has_value())
      << "the planted credential_process ran; chain: "
      << (resolved.credentials ? resolved.provider : resolved.error);
  EXPECT_FALSE(resolved.credentials.has_value()) << resolved.provider;
}

}  // namespace
