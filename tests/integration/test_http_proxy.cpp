// Mapping through a real forward proxy (tinyproxy) in front of nginx: https:// in a CONNECT
// tunnel with TLS verified end to end, http:// in absolute form, NO_PROXY (names in any case,
// ports, CIDR blocks), proxy values the engine cannot use, and proxies that refuse. The proxy's
// own log shows which requests really went through it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fixtures/forward_proxy.hpp"
#include "fixtures/process.hpp"
#include "fixtures/test_cert.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::testing::ForwardProxy;
using mmapurl::testing::ForwardProxyOptions;
using Clock = std::chrono::steady_clock;

using itest::describe_failure;

// Larger than the probe (256K) and the default part (4M): the object arrives in several
// requests, each of which must go through the proxy. Odd-sized so the tail page is partial.
constexpr size_t kObjectSize = (5 << 20) + 12345;

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

class HttpProxy : public itest::SharedOriginTest {
 protected:

  void TearDown() override { itest::unset_proxy_environment(); }

  // Started from the test's (main) thread, so PR_SET_PDEATHSIG outlives the test.
  ForwardProxy* start_proxy(const ForwardProxyOptions& options = {}) {
    std::string error;
    proxy_ = ForwardProxy::start(options, &error);
    EXPECT_NE(proxy_, nullptr) << error;
    return proxy_.get();
  }

  std::string put_random(const std::string& name, uint64_t seed) {
    std::string content = itest::random_bytes(kObjectSize, seed);
    EXPECT_TRUE(origin_->put(name, content));
    return content;
  }

  // Maps `url`, compares every byte with `content`, unmaps.
  void expect_maps_to(const std::string& url, const std::string& content) {
    size_t sz = 0;
    int err = -1;
    const void* p = mmap_s3(url.c_str(), &sz, &err);
    ASSERT_NE(p, itest::kMapFailed) << url << ": " << describe_failure(err) << "\nproxy log:\n"
                                    << (proxy_ ? proxy_->log() : "(no proxy)");
    EXPECT_EQ(err, MMAP_S3_OK);
    ASSERT_EQ(sz, content.size());
    EXPECT_EQ(itest::first_mismatch(static_cast<const uint8_t*>(p), sz, content), std::string::npos)
        << url;
    EXPECT_EQ(munmap_s3(p), 0);
  }

  std::string connect_line() const {
    return "CONNECT 127.0.0.1:" + std::to_string(origin_->nginx().https_port()) + " HTTP/1.1";
  }

  std::string absolute_get_line(const std::string& name) const {
    return "GET " + origin_->url(false, name) + " HTTP/1.1";
  }

  std::unique_ptr<ForwardProxy> proxy_;
};

TEST_F(HttpProxy, HttpsGoesThroughAConnectTunnelWithTlsVerifiedEndToEnd) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("proxied-https", 11);
  itest::set_env("HTTPS_PROXY", proxy->url());

  expect_maps_to(origin_->url(true, "proxied-https"), content);

  // The proxy saw only tunnels to nginx's TLS port: the GETs inside were encrypted.
  const auto requests = proxy->requests();
  ASSERT_FALSE(requests.empty()) << "nothing went through the proxy; log:\n" << proxy->log();
  for (const auto& r : requests) EXPECT_EQ(r, connect_line()) << joined(requests);
}

TEST_F(HttpProxy, HttpGoesThroughTheProxyInAbsoluteForm) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("proxied-http", 12);
  // Lower case: like curl, the engine ignores upper-case HTTP_PROXY (see the next test).
  itest::set_env("http_proxy", proxy->url());

  expect_maps_to(origin_->url(false, "proxied-http"), content);

  // Every request (the probe and the ranged GETs after it) in absolute form, none tunnelled.
  const auto requests = proxy->requests();
  ASSERT_GE(requests.size(), 2u) << "the object needs several requests; log:\n" << proxy->log();
  for (const auto& r : requests) {
    EXPECT_EQ(r, absolute_get_line("proxied-http")) << joined(requests);
  }
}

// HTTP_PROXY can be set by a CGI "Proxy:" request header (httpoxy): curl ignores the upper-case
// form for http://, and so does the engine.
TEST_F(HttpProxy, UpperCaseHttpProxyIsIgnoredForHttp) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("upper-http-proxy", 13);
  itest::set_env("HTTP_PROXY", proxy->url());

  expect_maps_to(origin_->url(false, "upper-http-proxy"), content);

  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());
  EXPECT_TRUE(proxy->running());
}

TEST_F(HttpProxy, NoProxyBypassesTheProxyForBothSchemes) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("no-proxy", 14);
  itest::set_env("HTTPS_PROXY", proxy->url());
  itest::set_env("http_proxy", proxy->url());
  itest::set_env("NO_PROXY", "localhost,127.0.0.1");

  expect_maps_to(origin_->url(true, "no-proxy"), content);
  expect_maps_to(origin_->url(false, "no-proxy"), content);
  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());

  // The same proxy was usable all along: without NO_PROXY both schemes go through it.
  ASSERT_TRUE(proxy->running());
  itest::unset_env("NO_PROXY");
  expect_maps_to(origin_->url(true, "no-proxy"), content);
  expect_maps_to(origin_->url(false, "no-proxy"), content);
  const auto requests = proxy->requests();
  EXPECT_NE(std::find(requests.begin(), requests.end(), connect_line()), requests.end())
      << joined(requests);
  EXPECT_NE(std::find(requests.begin(), requests.end(), absolute_get_line("no-proxy")),
            requests.end())
      << joined(requests);
}

// NO_PROXY names compare without regard to case, as curl's do: "LocalHost" exempts localhost.
TEST_F(HttpProxy, MixedCaseNoProxyEntryBypassesTheProxy) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("mixed-case-no-proxy", 19);
  itest::set_env("HTTPS_PROXY", proxy->url());
  itest::set_env("NO_PROXY", "other.example, LocalHost");
  // nginx's certificate names localhost too.
  const std::string url =
      "https://localhost:" + std::to_string(origin_->nginx().https_port()) + "/mixed-case-no-proxy";

  expect_maps_to(url, content);
  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());

  // The entry, not a broken proxy, kept it direct: without it the same URL is tunnelled.
  itest::set_env("NO_PROXY", "other.example");
  expect_maps_to(url, content);
  EXPECT_FALSE(proxy->requests().empty()) << proxy->log();
}

// An entry with a port exempts only that port: nginx's https port goes direct, its http port on
// the same address through the proxy.
TEST_F(HttpProxy, PortSpecificNoProxyEntryExemptsOnlyThatPort) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("port-no-proxy", 20);
  itest::set_env("HTTPS_PROXY", proxy->url());
  itest::set_env("http_proxy", proxy->url());
  itest::set_env("NO_PROXY", "127.0.0.1:" + std::to_string(origin_->nginx().https_port()));

  expect_maps_to(origin_->url(true, "port-no-proxy"), content);
  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());

  expect_maps_to(origin_->url(false, "port-no-proxy"), content);
  const auto requests = proxy->requests();
  ASSERT_FALSE(requests.empty()) << proxy->log();
  for (const auto& r : requests)
    EXPECT_EQ(r, absolute_get_line("port-no-proxy")) << joined(requests);
}

TEST_F(HttpProxy, CidrBlockInNoProxyExemptsAddressesInIt) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  const std::string content = put_random("cidr-no-proxy", 21);
  itest::set_env("HTTPS_PROXY", proxy->url());
  itest::set_env("NO_PROXY", "10.0.0.0/8,127.0.0.0/8");

  expect_maps_to(origin_->url(true, "cidr-no-proxy"), content);
  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());
}

// A proxy the engine cannot use fails the mapping before anything is sent, rather than going
// direct behind the user's back; the message names the variable and never echoes credentials.
TEST_F(HttpProxy, UnusableProxyFailsTheMappingAndSaysWhy) {
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  put_random("unusable-proxy", 22);
  const std::string authority = "127.0.0.1:" + std::to_string(proxy->port());
  struct Case {
    const char* variable;
    std::string value;
    bool https;
    const char* says;
  } cases[] = {
      {"HTTPS_PROXY", "https://" + authority, true, "HTTPS_PROXY names an https:// proxy"},
      {"https_proxy", "socks5://" + authority, true, "https_proxy names a socks5:// proxy"},
      {"http_proxy", "http://alice:s3cr3t@" + authority, false, "http_proxy holds credentials"},
      {"http_proxy", "http://" + authority + ":x", false, "http_proxy is not a proxy URL"},
  };
  for (const auto& c : cases) {
    itest::unset_proxy_environment();
    itest::set_env(c.variable, c.value);
    const std::string url = origin_->url(c.https, "unusable-proxy");
    size_t sz = 0;
    int err = -1;
    const void* p = mmap_s3(url.c_str(), &sz, &err);
    const std::string message = mmapurl_last_error_message();
    EXPECT_EQ(p, itest::kMapFailed) << c.value;
    if (p != itest::kMapFailed) munmap_s3(p);
    EXPECT_EQ(err, MMAP_S3_INVALID_S3URL) << c.value << ": " << describe_failure(err);
    EXPECT_NE(message.find(c.says), std::string::npos) << c.value << ": " << message;
    EXPECT_NE(message.find("/unusable-proxy"), std::string::npos) << "names the URL: " << message;
    EXPECT_EQ(message.find("alice"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
  }
  EXPECT_TRUE(proxy->requests().empty()) << joined(proxy->requests());
  EXPECT_EQ(proxy->log().find("s3cr3t"), std::string::npos) << "nothing reached the proxy";
}

// The S3 source reads the same variables for its endpoint's scheme, and fails the same way.
TEST_F(HttpProxy, UnusableProxyFailsAnS3MappingToo) {
  const uint16_t closed = mmapurl::testing::free_tcp_port();  // never reached
  itest::set_env("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:" + std::to_string(closed));
  itest::set_env("AWS_NO_SIGN_REQUEST", "true");
  itest::set_env("AWS_REGION", "us-east-1");
  itest::set_env("http_proxy", "socks5://127.0.0.1:1080");
  size_t sz = 0;
  int err = -1;
  const void* p = mmap_s3("s3://bucket/some/key", &sz, &err);
  const std::string message = mmapurl_last_error_message();
  for (const char* name : {"AWS_ENDPOINT_URL_S3", "AWS_NO_SIGN_REQUEST", "AWS_REGION"}) {
    itest::unset_env(name);
  }
  EXPECT_EQ(p, itest::kMapFailed);
  if (p != itest::kMapFailed) munmap_s3(p);
  EXPECT_EQ(err, MMAP_S3_INVALID_S3URL) << describe_failure(err);
  EXPECT_NE(message.find("http_proxy names a socks5:// proxy"), std::string::npos) << message;
}

// The tunnel carries TLS from the engine to nginx: a client that does not trust nginx's CA
// refuses the origin's certificate even though the proxy answered the CONNECT.
TEST_F(HttpProxy, HttpsThroughTheProxyStillRefusesAnUntrustedOrigin) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  std::string error;
  auto dir = itest::TempDir::create("mmapurl-itest-proxy-ca", &error);
  ASSERT_TRUE(dir) << error;
  mmapurl::testing::TestCertFiles unrelated;
  ASSERT_TRUE(mmapurl::testing::generate_test_certificates(dir->path(), &unrelated, &error))
      << error;
  ForwardProxy* proxy = start_proxy();
  ASSERT_NE(proxy, nullptr);
  put_random("untrusted-through-proxy", 15);
  // Before the process's first mmap_s3: the engine trusts only the unrelated CA.
  itest::set_env("MMAPURL_RETRY_TIMEOUT", "2");
  itest::set_env("MMAPURL_IO_TIMEOUT", "2");
  itest::set_env("SSL_CERT_FILE", unrelated.ca_cert);
  itest::set_env("HTTPS_PROXY", proxy->url());

  size_t sz = 0;
  int err = -1;
  const std::string url = origin_->url(true, "untrusted-through-proxy");
  EXPECT_EQ(mmap_s3(url.c_str(), &sz, &err), itest::kMapFailed);
  EXPECT_EQ(err, MMAP_S3_IOERROR) << describe_failure(err);
  EXPECT_NE(std::string(mmapurl_last_error_message()).find("not trusted"), std::string::npos)
      << describe_failure(err);
  const auto requests = proxy->requests();
  ASSERT_FALSE(requests.empty()) << proxy->log();
  for (const auto& r : requests) EXPECT_EQ(r, connect_line()) << joined(requests);
}

// A refusing proxy fails the mapping within the configured timeouts, and the message says the
// proxy was the problem (not the origin, which is up). Object names here never contain "proxy",
// so the word in a message cannot come from the URL.
class RefusingProxy : public HttpProxy {
 protected:
  static constexpr auto kBound = std::chrono::seconds(10);  // retry 2 s + I/O 2 s + slack

  // Sets the short timeouts; the engine reads them when it starts, i.e. at the first mmap_s3.
  static void set_short_timeouts() {
    itest::set_env("MMAPURL_RETRY_TIMEOUT", "2");
    itest::set_env("MMAPURL_IO_TIMEOUT", "2");
  }

  // HTTPS_PROXY and http_proxy name a loopback port nothing listens on; returns its URL.
  static std::string point_proxies_at_a_closed_port() {
    const uint16_t closed = mmapurl::testing::free_tcp_port();
    EXPECT_NE(closed, 0);
    const std::string proxy_url = "http://127.0.0.1:" + std::to_string(closed);
    itest::set_env("HTTPS_PROXY", proxy_url);
    itest::set_env("http_proxy", proxy_url);
    return proxy_url;
  }

  // Maps `url`, expects MMAP_S3_IOERROR within kBound; returns the error message.
  std::string expect_io_error_in_time(const std::string& url) {
    size_t sz = 0;
    int err = -1;
    const auto started = Clock::now();
    const void* p = mmap_s3(url.c_str(), &sz, &err);
    const auto elapsed = Clock::now() - started;
    const std::string message = mmapurl_last_error_message();
    EXPECT_EQ(p, itest::kMapFailed) << url;
    EXPECT_EQ(err, MMAP_S3_IOERROR) << url << ": " << describe_failure(err);
    EXPECT_LT(elapsed, kBound) << url << " took " << std::chrono::duration<double>(elapsed).count()
                               << " s";
    return message;
  }
};

TEST_F(RefusingProxy, ClosedProxyPortIsAnIoErrorWithinTheTimeouts) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  set_short_timeouts();
  put_random("closed-port", 16);
  point_proxies_at_a_closed_port();
  for (bool https : {true, false}) {
    const std::string message = expect_io_error_in_time(origin_->url(https, "closed-port"));
    EXPECT_NE(message, "");
  }
}

// The origin is up: a message that names only the origin ("connect to https://127.0.0.1:<nginx
// port>: Connection refused") sends whoever reads it to the wrong server.
TEST_F(RefusingProxy, ClosedProxyPortMessageNamesTheProxy) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  set_short_timeouts();
  put_random("closed-port", 18);
  const std::string proxy_url = point_proxies_at_a_closed_port();
  for (bool https : {true, false}) {
    const std::string message = expect_io_error_in_time(origin_->url(https, "closed-port"));
    EXPECT_NE(message.find("proxy"), std::string::npos)
        << "through " << proxy_url << ", the message does not name the proxy: " << message;
  }
}

TEST_F(RefusingProxy, ProxyForbiddingConnectIsAnIoErrorNamingTheProxy) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  set_short_timeouts();
  ForwardProxyOptions options;
  options.connect_ports = {0};  // tinyproxy: CONNECT to no port at all (403)
  ForwardProxy* proxy = start_proxy(options);
  ASSERT_NE(proxy, nullptr);
  put_random("connect-forbidden", 17);
  itest::set_env("HTTPS_PROXY", proxy->url());

  const std::string message = expect_io_error_in_time(origin_->url(true, "connect-forbidden"));
  EXPECT_NE(message.find("proxy refused CONNECT: 403"), std::string::npos) << message;
  const auto requests = proxy->requests();
  ASSERT_FALSE(requests.empty()) << proxy->log();
  for (const auto& r : requests) EXPECT_EQ(r, connect_line()) << joined(requests);
}

}  // namespace
