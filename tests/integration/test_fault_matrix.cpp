// Fault-injection matrix: each HTTP- and TCP-level fault in front of a real server, after mapping.
// Bytes are right or exactly the affected pages raise SIGBUS, in bounded time, and nothing else.
// Two tables, one row per (fault, how often it repeats, the outcome it must have): the embedded
// server's HTTP faults (EmbeddedServerFault) and the shaping proxy's TCP faults in front of nginx
// (NginxTcpFault); each row is one test, named after its columns. Cases that are no single fault
// (a replaced object, a server gone, 16 threads, a restart, the SIGBUS itself) follow as TESTs.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "fixtures/nginx_server.hpp"
#include "fixtures/process.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"
#include "netshaper/shaping_proxy.hpp"

namespace mmapurl::faulttest {
namespace {

using testserver::EmbeddedServer;
using testserver::Fault;
using testserver::ObjectSpec;
using testserver::ServerOptions;

// Small budgets keep the matrix fast; every bound below is derived from them.
constexpr double kRetryBudgetS = 3;
constexpr double kIoTimeoutS = 1.5;
constexpr double kSlackS = 4;
constexpr double kFailBoundS = kRetryBudgetS + kIoTimeoutS + kSlackS;

constexpr uint64_t kObjectSize = (1 << 20) + 1000;  // 257 pages, the last one partial
constexpr uint64_t kSeed = 0xfa17;
constexpr uint64_t kHealthySeed = 0x600d;
constexpr size_t kBeforePages = 16;  // read before the fault (pages 0..15)
constexpr size_t kFaultPage = 128;   // first page touched under the fault
constexpr size_t kFaultPages = 4;    // one random-mode fetch block (16 KiB)
constexpr size_t kLaterPage = 160;   // read after the fault is cleared
constexpr size_t kLaterPages = 8;

// Engine knobs are read once per process, at the first mapping; overwrite=0 lets a re-run child
// (or the caller) choose otherwise.
void configure_engine_environment() {
  setenv("MMAPURL_RETRY_TIMEOUT", "3", 0);
  setenv("MMAPURL_IO_TIMEOUT", "1.5", 0);
  setenv("MMAPURL_PROBE_SIZE", "16K", 0);
  setenv("MMAPURL_RANDOM_FETCH", "16K", 0);
  setenv("MMAPURL_CONNECTIONS", "4", 0);
}

ServerOptions plain_server(uint64_t seed, bool ignore_if_match = false) {
  ServerOptions o;
  o.tls = false;
  o.objects.push_back(ObjectSpec{"/obj", kObjectSize, seed, "\"v1\"", ""});
  o.ignore_if_match = ignore_if_match;
  return o;
}

// What a fault may do to the pages touched while it is active.
enum class Expect {
  kRight,          // the engine recovers: every byte right
  kRightOrSigbus,  // each touched page right or SIGBUS (sticky); never wrong bytes
  kSigbus,         // every touched page raises SIGBUS; other pages unaffected
  kBrokenForGood,  // the object changed: every later fetch of this mapping fails
};

// How often a fault repeats: a number of answers (HTTP) or connections (TCP), or until cleared.
constexpr int kForever = -1;

std::string outcome_label(Expect e) {
  switch (e) {
    case Expect::kRight:
      return "Recovers";
    case Expect::kRightOrSigbus:
      return "RightOrSigbus";
    case Expect::kSigbus:
      return "FailsTouchedPages";
    case Expect::kBrokenForGood:
      return "BreaksMappingForGood";
  }
  return "Unknown";
}

std::string repeat_label(int times) {
  if (times == kForever) return "Forever";
  if (times == 1) return "Once";
  return std::to_string(times) + "Times";
}

void report_sigbus(const char* what, const PageScan& scan) {
  for (size_t i = 0; i < scan.records.size() && i < 2; ++i) {
    const SigbusRecord& r = scan.records[i];
    std::printf("[%s] SIGBUS page %zu: si_code=%d (%s) si_addr=%#lx touched=%#lx (%s)\n", what,
                scan.sigbus_pages[i], r.code, sigbus_code_name(r.code),
                static_cast<unsigned long>(r.addr), static_cast<unsigned long>(r.touched),
                r.addr == r.touched ? "same address" : "different address");
  }
}

// A healthy origin in the same process must keep working whatever happened to another mapping.
void expect_healthy_mapping_works() {
  EmbeddedServer healthy(plain_server(kHealthySeed));
  std::string err;
  ASSERT_TRUE(healthy.start(&err)) << err;
  Mapping m(healthy.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  PageScan s = scan_pages(m.data(), m.size(), kHealthySeed, 0, (kObjectSize + kPage - 1) / kPage);
  EXPECT_TRUE(s.all_right()) << "healthy mapping: SIGBUS " << describe_pages(s.sigbus_pages)
                             << " wrong " << describe_pages(s.wrong_pages);
}

// Checks what the fault phase did to pages [kFaultPage, +kFaultPages), and that the rest of the
// mapping is unaffected. `m` was read at [0, kBeforePages) before the fault.
void check_fault_outcome(const Mapping& m, uint64_t seed, const PageScan& during, Expect expect,
                         const char* name) {
  EXPECT_TRUE(during.wrong_pages.empty())
      << name << ": WRONG BYTES on pages " << describe_pages(during.wrong_pages);
  report_sigbus(name, during);
  switch (expect) {
    case Expect::kRight:
      EXPECT_TRUE(during.sigbus_pages.empty())
          << name << ": SIGBUS on " << describe_pages(during.sigbus_pages);
      EXPECT_EQ(during.right_pages.size(), kFaultPages) << name;
      break;
    case Expect::kSigbus:
    case Expect::kBrokenForGood:
      EXPECT_EQ(during.sigbus_pages.size(), kFaultPages)
          << name << ": expected every touched page to fail; SIGBUS on "
          << describe_pages(during.sigbus_pages);
      break;
    case Expect::kRightOrSigbus:
      break;
  }
  if (!during.sigbus_pages.empty()) {
    EXPECT_LT(during.first_sigbus_seconds, kFailBoundS) << name << ": SIGBUS came too late";
  }
  EXPECT_LT(during.seconds, kFaultPages * kFailBoundS) << name;

  // Pages fetched before the fault still read right.
  PageScan again = scan_pages(m.data(), m.size(), seed, 0, kBeforePages);
  EXPECT_TRUE(again.all_right()) << name << ": earlier pages: SIGBUS "
                                 << describe_pages(again.sigbus_pages) << " wrong "
                                 << describe_pages(again.wrong_pages);
  // A failed page stays failed: touched again, and after DONTNEED.
  for (size_t p : during.sigbus_pages) {
    PageScan re = scan_pages(m.data(), m.size(), seed, p, 1);
    EXPECT_EQ(re.sigbus_pages.size(), 1u) << name << ": failed page " << p << " read again";
  }
  if (!during.sigbus_pages.empty()) {
    EXPECT_EQ(m.advise(kFaultPage * kPage, kFaultPages * kPage, Advice::kDontNeed), 0);
    PageScan re = scan_pages(m.data(), m.size(), seed, kFaultPage, kFaultPages);
    EXPECT_TRUE(re.wrong_pages.empty()) << name;
    EXPECT_EQ(re.sigbus_pages, during.sigbus_pages)
        << name << ": after DONTNEED, failed pages must fail again (and only they)";
    EXPECT_GE(m.stats().failed_pages, during.sigbus_pages.size()) << name;
  }
  // Pages the fault never touched: right, unless the object changed (then they must fail).
  PageScan later = scan_pages(m.data(), m.size(), seed, kLaterPage, kLaterPages);
  EXPECT_TRUE(later.wrong_pages.empty())
      << name << ": WRONG BYTES after the fault on " << describe_pages(later.wrong_pages);
  if (expect == Expect::kBrokenForGood) {
    EXPECT_EQ(later.sigbus_pages.size(), kLaterPages)
        << name << ": a changed object must fail every later fetch";
    EXPECT_LT(later.seconds, kLaterPages * kFailBoundS) << name;
  } else {
    EXPECT_TRUE(later.all_right())
        << name << ": untouched pages: SIGBUS " << describe_pages(later.sigbus_pages);
  }
}

// One HTTP-level fault from the embedded server: `count` answers (-1: until cleared) carry it.
void run_http_fault(Fault fault, int count, Expect expect, bool ignore_if_match,
                    const std::string& row) {
  configure_engine_environment();
  const char* name = row.c_str();
  EmbeddedServer server(plain_server(kSeed, ignore_if_match));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  ASSERT_EQ(m.size(), kObjectSize);
  // Random mode: each fault fetches one aligned 16 KiB block and nothing ahead of it.
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  PageScan before = scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages);
  ASSERT_TRUE(before.all_right()) << "before the fault: SIGBUS "
                                  << describe_pages(before.sigbus_pages);
  Stats stats_before = m.stats();

  // The server counts no injections, but while the rule is set it is the only one, on /obj, the
  // only path this server serves: each request whose head is parsed in the window takes it (one
  // of its `count` uses, or every time for -1). So N requests in the window are N injected
  // faults (at most `count`); a scan served without reaching the server injected none.
  const uint64_t requests_before = server.counters().requests;
  server.set_fault(fault, count, "/obj");
  PageScan during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages);
  const uint64_t requests_in_window = server.counters().requests - requests_before;
  server.clear_faults();
  Stats stats_during = m.stats();
  EXPECT_GE(requests_in_window, static_cast<uint64_t>(count > 0 ? count : 1))
      << name << ": "
      << (count > 0 ? "the fault did not fire all " + std::to_string(count) + " times"
                    : std::string("the fault never fired"))
      << ": " << requests_in_window << " request(s) reached the server while it was set";
  check_fault_outcome(m, kSeed, during, expect, name);
  if (expect == Expect::kRight && count > 0) {
    EXPECT_GE(stats_during.retries - stats_before.retries, 1u)
        << name << ": a recovered fault must show as a retry";
  }
  if (count > 0 && (fault == Fault::kStatus500 || fault == Fault::kStatus503 ||
                    fault == Fault::kStatus503SlowDown)) {
    EXPECT_GE(stats_during.retries - stats_before.retries, static_cast<uint64_t>(count))
        << name << ": each error of the storm is one retry";
  }
  m.reset();
  expect_healthy_mapping_works();
}

// --- The embedded server's HTTP faults: one row per fault, repeat count and outcome. ---
struct HttpFaultRow {
  Fault fault;
  int times;  // answers that carry the fault (kForever: until cleared)
  Expect expect;
  bool ignore_if_match = false;  // the server ignores If-Match/If-Unmodified-Since
};

std::string http_fault_label(Fault f) {
  switch (f) {
    case Fault::kStatus500:
      return "Status500";
    case Fault::kStatus503:
      return "Status503";
    case Fault::kStatus503SlowDown:
      return "SlowDown";
    case Fault::kReset:
      return "ResetMidBody";
    case Fault::kTruncate:
      return "TruncatedBody";
    case Fault::kStall:
      return "StallPastIoTimeout";
    case Fault::kWrongContentRange:
      return "WrongContentRange";
    case Fault::kWrongTotal:
      return "WrongTotal";
    case Fault::kIgnoreRange:
      return "Status200InsteadOf206";
    case Fault::kMoreBytes:
      return "MoreBytes";
    case Fault::kChunked:
      return "Chunked";
    case Fault::kGzip:
      return "Gzip";
    case Fault::kAbsurdContentLength:
      return "AbsurdContentLength";
    case Fault::kEndlessHeaders:
      return "EndlessHeaders";
    case Fault::kChangeEtag:
      return "ChangedEtag";
    default:
      return testserver::fault_name(f);
  }
}

// e.g. "Status500_3Times_Recovers", "ChangedEtag_Once_BreaksMappingForGood_IgnoringIfMatch".
std::string http_row_name(const HttpFaultRow& row) {
  return http_fault_label(row.fault) + "_" + repeat_label(row.times) + "_" +
         outcome_label(row.expect) + (row.ignore_if_match ? "_IgnoringIfMatch" : "");
}

const HttpFaultRow kHttpFaultRows[] = {
    // Transient: a burst of bad answers, then recovery: bytes right, retries counted.
    {Fault::kStatus500, 3, Expect::kRight},
    {Fault::kStatus503, 3, Expect::kRight},
    {Fault::kStatus503SlowDown, 3, Expect::kRight},
    {Fault::kReset, 1, Expect::kRight},
    {Fault::kTruncate, 1, Expect::kRight},
    {Fault::kStall, 1, Expect::kRight},
    {Fault::kWrongContentRange, 1, Expect::kRight},
    {Fault::kIgnoreRange, 1, Expect::kRight},
    {Fault::kMoreBytes, 1, Expect::kRightOrSigbus},
    {Fault::kAbsurdContentLength, 1, Expect::kRight},
    {Fault::kEndlessHeaders, 1, Expect::kRight},
    // Persistent: the fault never clears within the retry budget.
    {Fault::kStatus500, kForever, Expect::kSigbus},
    {Fault::kStatus503SlowDown, kForever, Expect::kSigbus},
    {Fault::kReset, kForever, Expect::kRightOrSigbus},
    {Fault::kTruncate, kForever, Expect::kRightOrSigbus},
    {Fault::kStall, kForever, Expect::kRightOrSigbus},
    {Fault::kWrongContentRange, kForever, Expect::kSigbus},
    // A different Content-Range total means a different object: the mapping breaks for good.
    {Fault::kWrongTotal, kForever, Expect::kBrokenForGood},
    {Fault::kIgnoreRange, kForever, Expect::kSigbus},
    {Fault::kMoreBytes, kForever, Expect::kRightOrSigbus},
    {Fault::kChunked, kForever, Expect::kRightOrSigbus},
    {Fault::kGzip, kForever, Expect::kRightOrSigbus},
    {Fault::kAbsurdContentLength, kForever, Expect::kSigbus},
    {Fault::kEndlessHeaders, kForever, Expect::kSigbus},
    // The object changed after mapping: never mixed bytes, every later fetch fails.
    {Fault::kChangeEtag, 1, Expect::kBrokenForGood},
    {Fault::kChangeEtag, 1, Expect::kBrokenForGood, /*ignore_if_match=*/true},
};

// gtest prints a row by its name.
void PrintTo(const HttpFaultRow& row, std::ostream* os) { *os << http_row_name(row); }

class EmbeddedServerFault : public ::testing::TestWithParam<HttpFaultRow> {};

TEST_P(EmbeddedServerFault, Outcome) {
  const HttpFaultRow& row = GetParam();
  run_http_fault(row.fault, row.times, row.expect, row.ignore_if_match, http_row_name(row));
}

INSTANTIATE_TEST_SUITE_P(FaultMatrix, EmbeddedServerFault, ::testing::ValuesIn(kHttpFaultRows),
                         [](const auto& info) { return http_row_name(info.param); });

void run_replaced_object(bool ignore_if_match) {
  configure_engine_environment();
  EmbeddedServer server(plain_server(kSeed, ignore_if_match));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  server.replace_object("/obj", kSeed + 1, "\"v2\"");
  PageScan during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages);
  check_fault_outcome(m, kSeed, during, Expect::kBrokenForGood, "replace_object");
  m.reset();
  expect_healthy_mapping_works();
}
TEST(FaultMatrix, ReplacedObjectBreaksMappingForGood) { run_replaced_object(false); }
TEST(FaultMatrix, ReplacedObjectIgnoringIfMatchBreaksMappingForGood) { run_replaced_object(true); }

// --- The server goes away. ---
TEST(FaultMatrix, EmbeddedServerGoneForGood) {
  configure_engine_environment();
  EmbeddedServer server(plain_server(kSeed));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  server.stop();
  PageScan during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages);
  EXPECT_TRUE(during.wrong_pages.empty());
  EXPECT_EQ(during.sigbus_pages.size(), kFaultPages);
  EXPECT_LT(during.first_sigbus_seconds, kFailBoundS);
  report_sigbus("server stopped", during);
  PageScan again = scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages);
  EXPECT_TRUE(again.all_right()) << "pages read before the server left";
  m.reset();
  expect_healthy_mapping_works();
}

// nginx behind the shaping proxy: TCP-level faults on a production server's byte stream, plain
// HTTP or TLS (then the faults cut TLS records, and the engine must trust nginx's test CA: call
// before the process's first mapping).
struct ProxiedNginx {
  std::unique_ptr<testing::TempDir> dir;
  std::unique_ptr<testing::NginxServer> nginx;
  std::unique_ptr<netshaper::ShapingProxy> proxy;
  std::string url;

  bool start(std::string* err, bool tls = false) {
    dir = testing::TempDir::create("mmapurl-faults-nginx", err);
    if (!dir) return false;
    if (!write_synthetic_file(dir->file("obj"), kSeed, kObjectSize)) {
      *err = "cannot write the docroot";
      return false;
    }
    nginx = testing::NginxServer::start(dir->path(), err);
    if (!nginx) return false;
    netshaper::ShaperOptions o;
    o.target_port = tls ? nginx->https_port() : nginx->http_port();
    proxy = std::make_unique<netshaper::ShapingProxy>(o);
    if (!proxy->start(err)) return false;
    url = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(proxy->port()) +
          "/obj";
    if (tls) {
      setenv("SSL_CERT_FILE", nginx->ca_file().c_str(), 1);
      unsetenv("SSL_CERT_DIR");
      for (const char* v : {"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}) unsetenv(v);
    }
    return true;
  }
};

// One TCP fault; `max_connections` connections (kForever: all) suffer it until cleared.
void run_tcp_fault(netshaper::TcpFault fault, uint64_t after_bytes, int max_connections,
                   Expect expect, const char* name, bool tls = false) {
  configure_engine_environment();
  ProxiedNginx origin;
  std::string err;
  ASSERT_TRUE(origin.start(&err, tls)) << err;
  Mapping m(origin.url);
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.size(), kObjectSize);
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  Stats stats_before = m.stats();
  origin.proxy->set_fault(fault, after_bytes, max_connections);
  PageScan during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages);
  origin.proxy->clear_fault();
  EXPECT_GE(origin.proxy->faulted_connections(), 1u) << name << ": the fault never fired";
  check_fault_outcome(m, kSeed, during, expect, name);
  if (expect == Expect::kRight) {
    EXPECT_GE(m.stats().retries - stats_before.retries, 1u) << name;
  }
  m.reset();
  expect_healthy_mapping_works();
}

// --- The shaping proxy's TCP faults in front of nginx: one row per fault, place, repeat count
// and outcome, over plain HTTP or TLS (then the faults cut TLS records). ---
enum class Transport { kHttp, kTls };

// Where in a connection's byte stream from nginx the fault strikes.
constexpr uint64_t kAtOnce = 0;
constexpr uint64_t kInHead = 100;    // inside the response head, or the TLS handshake
constexpr uint64_t kMidBody = 6000;  // the response head and about a page of a 16 KiB body

struct TcpFaultRow {
  Transport transport;
  netshaper::TcpFault fault;
  uint64_t after_bytes;
  int connections;  // connections that suffer it (kForever: all, until cleared)
  Expect expect;
};

std::string tcp_fault_label(netshaper::TcpFault f) {
  switch (f) {
    case netshaper::TcpFault::kResetAfterBytes:
      return "Reset";
    case netshaper::TcpFault::kCloseAfterBytes:
      return "Close";
    case netshaper::TcpFault::kStallAfterBytes:
      return "Stall";
    case netshaper::TcpFault::kRefuse:
      return "Refused";
    case netshaper::TcpFault::kNone:
      break;
  }
  return "None";
}

std::string place_label(const TcpFaultRow& row) {
  if (row.after_bytes == kMidBody) return "MidBody";
  if (row.after_bytes == kInHead)
    return row.transport == Transport::kTls ? "InHandshake" : "InHead";
  if (row.after_bytes == kAtOnce) return "";
  return "After" + std::to_string(row.after_bytes) + "Bytes";
}

// e.g. "Http_ResetMidBody_Once_Recovers", "Tls_CloseInHandshake_Forever_FailsTouchedPages".
std::string tcp_row_name(const TcpFaultRow& row) {
  return std::string(row.transport == Transport::kTls ? "Tls" : "Http") + "_" +
         tcp_fault_label(row.fault) + place_label(row) + "_" + repeat_label(row.connections) + "_" +
         outcome_label(row.expect);
}

using netshaper::TcpFault;
const TcpFaultRow kTcpFaultRows[] = {
    {Transport::kHttp, TcpFault::kResetAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kHttp, TcpFault::kCloseAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kHttp, TcpFault::kStallAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kHttp, TcpFault::kResetAfterBytes, kMidBody, kForever, Expect::kRightOrSigbus},
    // The same faults inside TLS: records cut short, a reset mid-record, a stall.
    {Transport::kTls, TcpFault::kResetAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kTls, TcpFault::kCloseAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kTls, TcpFault::kStallAfterBytes, kMidBody, 1, Expect::kRight},
    {Transport::kTls, TcpFault::kResetAfterBytes, kMidBody, kForever, Expect::kRightOrSigbus},
    {Transport::kTls, TcpFault::kCloseAfterBytes, kInHead, kForever, Expect::kSigbus},
    {Transport::kHttp, TcpFault::kResetAfterBytes, kInHead, kForever, Expect::kSigbus},
    {Transport::kHttp, TcpFault::kStallAfterBytes, kAtOnce, kForever, Expect::kSigbus},
    {Transport::kHttp, TcpFault::kRefuse, kAtOnce, kForever, Expect::kSigbus},
};

void PrintTo(const TcpFaultRow& row, std::ostream* os) { *os << tcp_row_name(row); }

class NginxTcpFault : public ::testing::TestWithParam<TcpFaultRow> {};

TEST_P(NginxTcpFault, Outcome) {
  const TcpFaultRow& row = GetParam();
  run_tcp_fault(row.fault, row.after_bytes, row.connections, row.expect, tcp_row_name(row).c_str(),
                row.transport == Transport::kTls);
}

INSTANTIATE_TEST_SUITE_P(FaultMatrix, NginxTcpFault, ::testing::ValuesIn(kTcpFaultRows),
                         [](const auto& info) { return tcp_row_name(info.param); });

// --- 16 threads faulting at once under a fault, each on its own fetch block. ---
constexpr int kThreads = 16;
constexpr size_t kThreadedFirstPage = 32;  // blocks 32..95: past the pages read before

// Each thread reads pages [kThreadedFirstPage + t * kFaultPages, +kFaultPages); all start
// together. Empty when the threads did not all return within `timeout`.
std::vector<PageScan> scan_blocks_from_threads(const Mapping& m, std::chrono::seconds timeout) {
  auto scans = std::make_shared<std::vector<PageScan>>(kThreads);
  bool finished = run_with_timeout(
      [&m, scans] {
        std::latch start(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&m, &start, scans, t] {
            start.arrive_and_wait();
            (*scans)[t] = scan_pages(m.data(), m.size(), kSeed,
                                     kThreadedFirstPage + t * kFaultPages, kFaultPages);
          });
        }
        for (auto& th : threads) th.join();
      },
      timeout);
  return finished ? *scans : std::vector<PageScan>{};
}

// Resets mid-body on the first 8 connections while 16 threads fault: every byte right.
TEST(FaultMatrix, SixteenThreadsThroughResetsRecover) {
  configure_engine_environment();
  ProxiedNginx origin;
  std::string err;
  ASSERT_TRUE(origin.start(&err)) << err;
  Mapping m(origin.url);
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  origin.proxy->set_fault(netshaper::TcpFault::kResetAfterBytes, 6000, 8);
  auto scans = scan_blocks_from_threads(m, std::chrono::seconds(60));
  origin.proxy->clear_fault();
  ASSERT_EQ(scans.size(), size_t{kThreads}) << "16 threads faulting under resets hung";
  EXPECT_GE(origin.proxy->faulted_connections(), 1u) << "the fault never fired";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(scans[t].all_right())
        << "thread " << t << ": SIGBUS " << describe_pages(scans[t].sigbus_pages) << " wrong "
        << describe_pages(scans[t].wrong_pages);
    EXPECT_LT(scans[t].seconds, kFailBoundS) << "thread " << t;
  }
  EXPECT_GE(m.stats().retries, 1u);
  EXPECT_TRUE(
      scan_pages(m.data(), m.size(), kSeed, 0, (kObjectSize + kPage - 1) / kPage).all_right());
  m.reset();
  expect_healthy_mapping_works();
}

// The origin refuses every connection while 16 threads fault: each thread's pages raise SIGBUS
// within the deadline, and nothing else changes.
TEST(FaultMatrix, SixteenThreadsRefusedForGoodFail) {
  configure_engine_environment();
  ProxiedNginx origin;
  std::string err;
  ASSERT_TRUE(origin.start(&err)) << err;
  Mapping m(origin.url);
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  origin.proxy->set_fault(netshaper::TcpFault::kRefuse);
  auto scans = scan_blocks_from_threads(m, std::chrono::seconds(60));
  origin.proxy->clear_fault();
  ASSERT_EQ(scans.size(), size_t{kThreads}) << "16 threads faulting on a dead origin hung";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(scans[t].wrong_pages.empty())
        << "thread " << t << ": WRONG BYTES on " << describe_pages(scans[t].wrong_pages);
    EXPECT_EQ(scans[t].sigbus_pages.size(), kFaultPages) << "thread " << t;
    EXPECT_LT(scans[t].first_sigbus_seconds, kFailBoundS) << "thread " << t;
  }
  if (HasFailure()) report_sigbus("16 threads refused", scans[0]);
  // The failed blocks stay failed; pages read before and pages never touched are fine.
  EXPECT_EQ(scan_pages(m.data(), m.size(), kSeed, kThreadedFirstPage, kThreads * kFaultPages)
                .sigbus_pages.size(),
            kThreads * kFaultPages);
  EXPECT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  EXPECT_TRUE(scan_pages(m.data(), m.size(), kSeed, kLaterPage, kLaterPages).all_right());
  m.reset();
  expect_healthy_mapping_works();
}

TEST(FaultMatrix, NginxGoneThenBackWithinBudget) {
  configure_engine_environment();
  ProxiedNginx origin;
  std::string err;
  ASSERT_TRUE(origin.start(&err)) << err;
  Mapping m(origin.url);
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  origin.proxy->set_fault(netshaper::TcpFault::kRefuse);
  std::thread back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    origin.proxy->clear_fault();
  });
  PageScan during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages);
  back.join();
  EXPECT_TRUE(during.all_right()) << "SIGBUS " << describe_pages(during.sigbus_pages) << " wrong "
                                  << describe_pages(during.wrong_pages);
  EXPECT_GE(m.stats().retries, 1u);
  m.reset();
  expect_healthy_mapping_works();
}

// nginx itself dies (SIGKILL: every connection reset) and comes back well inside the retry
// budget. nginx is restarted from the test's main thread while another thread faults: the
// fixture's children carry PR_SET_PDEATHSIG, which fires when the *thread* that spawned them
// exits, so a restart from a short-lived thread would kill the new nginx at once (that, not the
// engine, was why this case once failed with SIGBUS).
TEST(FaultMatrix, NginxKilledThenRestartedWithinBudget) {
  configure_engine_environment();
  ProxiedNginx origin;
  std::string err;
  ASSERT_TRUE(origin.start(&err)) << err;
  Mapping m(origin.url);
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  origin.nginx->kill_hard();
  auto killed = std::chrono::steady_clock::now();
  PageScan during;
  std::thread reader(
      [&] { during = scan_pages(m.data(), m.size(), kSeed, kFaultPage, kFaultPages); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  bool restarted = origin.nginx->restart(&err);
  double restart_s = seconds_since(killed);
  reader.join();
  ASSERT_TRUE(restarted) << err;
  ASSERT_LT(restart_s, kRetryBudgetS - 1) << "nginx took too long to restart for this test";
  EXPECT_TRUE(origin.nginx->running()) << "the restarted nginx died";
  EXPECT_TRUE(during.all_right()) << "nginx was back after " << restart_s << " s; SIGBUS "
                                  << describe_pages(during.sigbus_pages) << " wrong "
                                  << describe_pages(during.wrong_pages);
  EXPECT_GE(m.stats().retries, 1u) << "the kill went unnoticed";
  m.reset();
  expect_healthy_mapping_works();
}

// --- SIGBUS delivery: what the kernel reports, with UFFDIO_POISON and with the fallback. ---
void sigbus_delivery_checks(const char* path_name) {
  configure_engine_environment();
  EmbeddedServer server(plain_server(kSeed));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  ASSERT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  server.set_fault(Fault::kStatus404, -1, "/obj");  // gone: permanent, no retries
  // Touch in the middle of a page: is si_addr the touched byte or the page?
  install_sigbus_handler();
  uint8_t byte = 0;
  SigbusRecord rec;
  auto t0 = std::chrono::steady_clock::now();
  bool read = touch_page(m.data() + kFaultPage * kPage + 123, &byte, 1, &rec);
  double took = seconds_since(t0);
  ASSERT_FALSE(read) << "a page of a vanished object read as a byte";
  EXPECT_LT(took, kFailBoundS);
  std::printf("[%s] SIGBUS si_code=%d (%s) si_addr=%#lx touched=%#lx: %s\n", path_name, rec.code,
              sigbus_code_name(rec.code), static_cast<unsigned long>(rec.addr),
              static_cast<unsigned long>(rec.touched),
              rec.addr == rec.touched                    ? "si_addr is the touched address"
              : rec.addr == (rec.touched & ~(kPage - 1)) ? "si_addr is the page start"
                                                         : "si_addr is elsewhere");
  ::testing::Test::RecordProperty("si_code", sigbus_code_name(rec.code));
  EXPECT_TRUE(rec.code == BUS_MCEERR_AR || rec.code == BUS_ADRERR) << rec.code;
  EXPECT_EQ(rec.addr & ~(kPage - 1), rec.touched & ~(kPage - 1))
      << "si_addr must point into the touched page";
  // Sticky: again, and after DONTNEED.
  EXPECT_FALSE(touch_page(m.data() + kFaultPage * kPage, &byte, 1, nullptr));
  EXPECT_EQ(m.advise(kFaultPage * kPage, kPage, Advice::kDontNeed), 0);
  server.clear_faults();
  EXPECT_FALSE(touch_page(m.data() + kFaultPage * kPage, &byte, 1, nullptr))
      << "a failed page read after DONTNEED";
  // The mapping's other pages and other mappings are fine.
  EXPECT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, kBeforePages).all_right());
  m.reset();
  expect_healthy_mapping_works();
}

TEST(FaultMatrix, SigbusCodeAndAddressWithPoison) { sigbus_delivery_checks("poison"); }

// MMAPURL_DISABLE_POISON=1 needs a fresh engine: the same checks in a new process.
TEST(FaultMatrix, PoisonFallbackRaisesSigbus) {
  if (itest::in_fresh_process()) {
    sigbus_delivery_checks(std::getenv("MMAPURL_DISABLE_POISON") ? "fallback" : "poison");
    return;
  }
  itest::FreshProcess child;
  child.env = {{"MMAPURL_DISABLE_POISON", "1"}};
  child.timeout = std::chrono::seconds(60);
  auto r = itest::run_in_fresh_process(child);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(itest::gtest_summary_count(r.out, "[  PASSED  ]"), 1) << r.out;
  auto at = r.out.find("[fallback] SIGBUS");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  std::cout << line << "\n";
  // The fallback (a mapping past the end of an empty memfd) raises BUS_ADRERR; BUS_MCEERR_AR
  // would mean UFFDIO_POISON ran despite MMAPURL_DISABLE_POISON=1.
  EXPECT_NE(line.find("(BUS_ADRERR)"), std::string::npos) << line;
}

// How many tests of this binary the gtest filter "FaultMatrix*<word>*:...:-*<excluded>*:..."
// selects (the suites FaultMatrix and FaultMatrix/<table>, words matched in the full name): the
// child run below must have run exactly those.
int count_tests_matching(const std::vector<std::string>& words,
                         const std::vector<std::string>& excluded) {
  int n = 0;
  const auto* unit = ::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit->total_test_suite_count(); ++i) {
    const auto* suite = unit->GetTestSuite(i);
    const std::string suite_name = suite->name();
    if (suite_name != "FaultMatrix" && suite_name.rfind("FaultMatrix/", 0) != 0) continue;
    for (int j = 0; j < suite->total_test_count(); ++j) {
      const std::string test = suite_name + "." + suite->GetTestInfo(j)->name();
      auto has = [&](const std::string& w) { return test.find(w) != std::string::npos; };
      if (std::any_of(excluded.begin(), excluded.end(), has)) continue;
      if (std::any_of(words.begin(), words.end(), has)) ++n;
    }
  }
  return n;
}

// The persistent failure cases again on the poison fallback path (what kernels before 6.6 get):
// one fresh process with MMAPURL_DISABLE_POISON=1 runs them all (not the stalls, for time; not
// the TLS cases, which need a process of their own: the engine trusts nginx's test CA only if
// it starts after them).
TEST(FaultMatrix, PersistentFaultsWithPoisonFallback) {
  if (!itest::fresh_process_role().empty()) GTEST_SKIP() << "not inside a re-run child";
  // One selection, used for the child's gtest filter and for counting what it must run: the
  // rows repeated forever and the cases that break a mapping for good.
  const std::vector<std::string> words{"Forever", "ForGood"};
  const std::vector<std::string> excluded{"Stall", "Tls"};
  std::string filter;
  for (const auto& w : words) filter += "FaultMatrix*" + w + "*:";
  filter += "-";
  for (const auto& w : excluded) filter += "*" + w + "*:";
  filter.pop_back();
  itest::FreshProcess child;
  child.tests = filter;
  child.role = "fallback-matrix";
  child.env = {{"MMAPURL_DISABLE_POISON", "1"}};
  child.timeout = std::chrono::seconds(200);
  auto r = itest::run_in_fresh_process(child);
  EXPECT_FALSE(r.timed_out) << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Every selected case ran and passed: none skipped, none missing from the run.
  const int expected = count_tests_matching(words, excluded);
  ASSERT_GT(expected, 0);
  EXPECT_EQ(itest::gtest_summary_count(r.out, "[  PASSED  ]"), expected) << r.out;
  EXPECT_EQ(itest::gtest_summary_count(r.out, itest::kNeutralSkippedTag), 0) << r.out;
  // The failures went through the fallback: the cases print the si_code of the SIGBUS they got
  // (report_sigbus), BUS_ADRERR from the fallback's memfd mapping, never UFFDIO_POISON's
  // BUS_MCEERR_AR.
  EXPECT_NE(r.out.find("(BUS_ADRERR)"), std::string::npos) << "no SIGBUS reported:\n" << r.out;
  EXPECT_EQ(r.out.find("(BUS_MCEERR_AR)"), std::string::npos)
      << "a SIGBUS came from UFFDIO_POISON despite MMAPURL_DISABLE_POISON=1:\n"
      << r.out;
}

}  // namespace
}  // namespace mmapurl::faulttest
