// A server that closes idle keep-alive connections sooner than the engine's own 4 s (nginx with
// keepalive_timeout 1s) costs no failed attempt: an idle connection is watched (one receive in
// io_uring, net/idle_socket.hpp), and one the server closes is dropped when the close comes, so
// another carries the next request. Without the watch, the next read after a pause went out on a
// closed connection, failed, and was retried at once: a retry per pause, and a round trip more
// for the thread waiting on the page. Over TLS 1.3 nginx's close is an encrypted close_notify
// (a record that looks like data) and a FIN: a peek at the first pending byte would not see it.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testing::NginxOptions;
using testing::NginxServer;
using testing::TempDir;

constexpr uint64_t kSize = (16 << 20) + 123;
constexpr uint64_t kSeed = 0x6b61;
constexpr size_t kPages = (kSize + kPage - 1) / kPage;

struct Transport {
  const char* name;
  bool https;
  const char* ssl_protocols;
};

void PrintTo(const Transport& t, std::ostream* os) { *os << t.name; }

class KeepAliveClosedByServer : public ::testing::TestWithParam<Transport> {};

// Runs in a fresh process per transport: the engine reads SSL_CERT_FILE once, at its start, and
// each nginx has its own CA.
void read_after_pauses(const Transport& t) {
  std::string err;
  auto docroot = TempDir::create("mmapurl-keepalive", &err);
  ASSERT_TRUE(docroot) << err;
  ASSERT_TRUE(write_synthetic_file(docroot->file("obj"), kSeed, kSize));
  NginxOptions options;
  options.keepalive_timeout = "1s";
  options.ssl_protocols = t.ssl_protocols;
  auto nginx = NginxServer::start(docroot->path(), &err, options);
  ASSERT_TRUE(nginx) << err;
  itest::set_client_environment(nginx->ca_file());

  Mapping m(t.https ? nginx->https_url("/obj") : nginx->http_url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  // No readahead: what a read after a pause needs is still to be fetched then.
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  auto first = scan_pages(m.data(), m.size(), kSeed, 0, 256);
  ASSERT_TRUE(first.all_right()) << "SIGBUS " << describe_pages(first.sigbus_pages) << " wrong "
                                 << describe_pages(first.wrong_pages);
  // Each pause outlasts nginx's 1 s (every connection the mapping used is closed by the server)
  // and stays short of the engine's own 4 s (which would close them first); each read after it
  // faults on pages nothing has fetched yet.
  for (size_t round = 1; round <= 2; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    const Stats before = process_stats();
    const size_t from = round * kPages / 3;
    auto scan = scan_pages(m.data(), m.size(), kSeed, from, 16);
    const Stats after = process_stats();
    EXPECT_TRUE(scan.all_right()) << "round " << round << ": SIGBUS "
                                  << describe_pages(scan.sigbus_pages) << " wrong "
                                  << describe_pages(scan.wrong_pages);
    EXPECT_GT(after.requests, before.requests) << "round " << round << ": nothing was fetched";
    EXPECT_EQ(after.retries - before.retries, 0u)
        << "round " << round << ": a request went out on a connection nginx had closed";
    EXPECT_EQ(after.failed_pages, before.failed_pages) << "round " << round;
  }
}

TEST_P(KeepAliveClosedByServer, AReadAfterThePauseNeedsNoRetry) {
  const Transport t = GetParam();
  if (itest::in_fresh_process()) return read_after_pauses(t);
  EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(60)));
}

INSTANTIATE_TEST_SUITE_P(Transports, KeepAliveClosedByServer,
                         ::testing::Values(Transport{"Tls13", true, "TLSv1.3"},
                                           Transport{"Tls12", true, "TLSv1.2"},
                                           Transport{"PlainHttp", false, "TLSv1.2 TLSv1.3"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mmapurl::faulttest
