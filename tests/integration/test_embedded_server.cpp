// The embedded test server (tools/embedded_server) on loopback, spoken to over plain TCP and over
// TLS (trusting its own certificate) with embedded_server/raw_http_client.hpp: ranges, keep-alive,
// preconditions, redirects, pacing and every fault. Its pure parts are unit-tested in
// tests/unit/test_embedded_server_*.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "embedded_server/embedded_server.hpp"
#include "embedded_server/raw_http_client.hpp"

namespace mmapurl::testserver {
namespace {

constexpr uint64_t kSize = 3 * 1024 * 1024 + 123;  // not a multiple of anything
constexpr uint64_t kSeed = 77;
const char* const kEtag = "\"obj-v1\"";
const char* const kLastModified = "Sun, 06 Nov 1994 08:49:37 GMT";

ServerOptions basic_options(bool tls) {
  ServerOptions o;
  o.tls = tls;
  o.objects.push_back({"/obj", kSize, kSeed, kEtag, kLastModified});
  o.objects.push_back({"/empty", 0, 5, "\"empty\"", ""});
  o.redirect_from = "/old";
  o.redirect_to = "/obj";
  return o;
}

std::string get(const std::string& path, const std::string& extra = "",
                const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

bool body_is(const RawResponse& r, uint64_t seed, uint64_t offset) {
  uint64_t bad = 0;
  const bool ok = check_synthetic(seed, offset, reinterpret_cast<const uint8_t*>(r.body.data()),
                                  r.body.size(), &bad);
  if (!ok) ADD_FAILURE() << "first bad byte at " << bad;
  return ok;
}

class ServerTest : public ::testing::TestWithParam<bool> {
 protected:
  void start(ServerOptions o) {
    server_ = std::make_unique<EmbeddedServer>(std::move(o));
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;
    ASSERT_NE(server_->port(), 0);
  }
  void SetUp() override { start(basic_options(GetParam())); }
  void connect(RawHttpClient& c) {
    std::string error;
    ASSERT_TRUE(c.connect(server_->port(), server_->ca_pem(), &error)) << error;
  }
  RawResponse roundtrip(const std::string& request, bool head = false) {
    RawHttpClient c;
    connect(c);
    EXPECT_TRUE(c.send(request));
    return c.read_response(head);
  }
  std::unique_ptr<EmbeddedServer> server_;
};

TEST_P(ServerTest, TheUrlNamesTheSchemeLoopbackAndPort) {
  const std::string scheme = GetParam() ? "https" : "http";
  EXPECT_EQ(server_->url("/obj"),
            scheme + "://127.0.0.1:" + std::to_string(server_->port()) + "/obj");
}

TEST_P(ServerTest, OnlyATlsServerHasACertificate) {
  EXPECT_EQ(server_->ca_pem().empty(), !GetParam());
}

TEST_P(ServerTest, RangedGetReturnsTheRightBytes) {
  const RawResponse r = roundtrip(get("/obj", "Range: bytes=1001-2000500\r\n"));
  ASSERT_TRUE(r.head_ok);
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("content-range"), "bytes 1001-2000500/" + std::to_string(kSize));
  EXPECT_EQ(r.header("content-length"), "1999500");
  EXPECT_EQ(r.header("etag"), kEtag);
  EXPECT_EQ(r.header("last-modified"), kLastModified);
  EXPECT_EQ(r.header("accept-ranges"), "bytes");
  ASSERT_TRUE(r.body_complete);
  EXPECT_TRUE(body_is(r, kSeed, 1001));
}

TEST_P(ServerTest, ASuffixRangeGetsTheLastBytes) {
  RawResponse r = roundtrip(get("/obj", "Range: bytes=-100\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body.size(), 100u);
  EXPECT_TRUE(body_is(r, kSeed, kSize - 100));
}

TEST_P(ServerTest, AnOpenRangeRunsToTheEnd) {
  RawResponse r = roundtrip(get("/obj", "Range: bytes=3145700-\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body.size(), kSize - 3145700);
  EXPECT_TRUE(body_is(r, kSeed, 3145700));
}

TEST_P(ServerTest, NoRangeGetsTheWholeObjectWith200) {
  RawResponse r = roundtrip(get("/obj"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-range"), "");
  ASSERT_EQ(r.body.size(), kSize);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, ARangeStartingAtTheEndAnswers416NamingTheSize) {
  RawResponse r = roundtrip(get("/obj", "Range: bytes=" + std::to_string(kSize) + "-\r\n"));
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.header("content-range"), "bytes */" + std::to_string(kSize));
}

TEST_P(ServerTest, AnyRangeOfAnEmptyObjectAnswers416) {
  RawResponse r = roundtrip(get("/empty", "Range: bytes=0-4095\r\n"));
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.header("content-range"), "bytes */0");
}

TEST_P(ServerTest, AnEmptyObjectWithoutARangeIs200OfNothing) {
  RawResponse r = roundtrip(get("/empty"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "0");
}

TEST_P(ServerTest, KeepAliveServesThreeRequestsOnOneConnection) {
  RawHttpClient c;
  connect(c);
  for (uint64_t i = 0; i < 3; ++i) {
    const uint64_t first = i * 4096 + 3;
    ASSERT_TRUE(c.send(get("/obj", "Range: bytes=" + std::to_string(first) + "-" +
                                       std::to_string(first + 4095) + "\r\n")));
    const RawResponse r = c.read_response();
    EXPECT_EQ(r.status, 206);
    ASSERT_EQ(r.body.size(), 4096u);
    EXPECT_TRUE(body_is(r, kSeed, first));
  }
  const auto counters = server_->counters();
  EXPECT_EQ(counters.requests, 3u);
  EXPECT_EQ(counters.connections_accepted, 1u);
  EXPECT_GT(counters.bytes_sent, 3u * 4096);
}

TEST_P(ServerTest, ConnectionCloseIsHonoured) {
  RawHttpClient c;
  connect(c);
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-9\r\nConnection: close\r\n")));
  const RawResponse r = c.read_response();
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("connection"), "close");
  bool error = false;
  EXPECT_EQ(c.read_until_close(1, &error), "");  // EOF, nothing more
  EXPECT_FALSE(error);
}

TEST_P(ServerTest, HeadHasHeadersButNoBody) {
  RawHttpClient c;
  connect(c);
  ASSERT_TRUE(c.send(get("/obj", "", "HEAD")));
  RawResponse r = c.read_response(/*head_request=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), std::to_string(kSize));
  EXPECT_EQ(r.header("etag"), kEtag);
  // Had the server sent a body, this second response would start with object bytes.
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-7\r\n")));
  r = c.read_response();
  EXPECT_EQ(r.status, 206);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, IfMatchMismatchAnswers412) {
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-9\r\nIf-Match: \"other\"\r\n"));
  EXPECT_EQ(r.status, 412);
}

TEST_P(ServerTest, IfMatchOfTheObjectsEtagIsServed) {
  RawResponse r =
      roundtrip(get("/obj", std::string("Range: bytes=0-9\r\nIf-Match: ") + kEtag + "\r\n"));
  EXPECT_EQ(r.status, 206);
}

TEST_P(ServerTest, IfUnmodifiedSinceBeforeTheLastModificationAnswers412) {
  RawResponse r = roundtrip(get("/obj",
                                "Range: bytes=0-9\r\nIf-Unmodified-Since: "
                                "Sat, 05 Nov 1994 08:49:37 GMT\r\n"));
  EXPECT_EQ(r.status, 412);
}

TEST_P(ServerTest, AReplacedObjectFailsThePreconditionsOfTheOldOne) {
  server_->replace_object("/obj", 999, "\"obj-v2\"");
  RawResponse r =
      roundtrip(get("/obj", std::string("Range: bytes=0-99\r\nIf-Match: ") + kEtag + "\r\n"));
  EXPECT_EQ(r.status, 412);
  r = roundtrip(get(
      "/obj", std::string("Range: bytes=0-99\r\nIf-Unmodified-Since: ") + kLastModified + "\r\n"));
  EXPECT_EQ(r.status, 412);
}

TEST_P(ServerTest, AReplacedObjectHasNewBytesEtagAndLastModified) {
  server_->replace_object("/obj", 999, "\"obj-v2\"");
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-99\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("etag"), "\"obj-v2\"");
  EXPECT_NE(r.header("last-modified"), kLastModified);
  EXPECT_TRUE(body_is(r, 999, 0));
}

TEST_P(ServerTest, ReplacingAnObjectThatIsNotThereDoesNothing) {
  server_->replace_object("/new", 1, "\"x\"");
  EXPECT_EQ(roundtrip(get("/new")).status, 404);
}

TEST_P(ServerTest, PutObjectAddsAnObject) {
  server_->put_object({"/new", 100, 9, "\"n1\"", ""});
  RawResponse r = roundtrip(get("/new", "Range: bytes=90-\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("content-range"), "bytes 90-99/100");
  EXPECT_TRUE(body_is(r, 9, 90));
}

TEST_P(ServerTest, PutObjectResizesAnObject) {
  server_->put_object({"/new", 100, 9, "\"n1\"", ""});
  server_->put_object({"/new", 200, 9, "\"n2\"", ""});
  RawResponse r = roundtrip(get("/new", "Range: bytes=90-\r\n"));
  EXPECT_EQ(r.header("content-range"), "bytes 90-199/200");
  EXPECT_EQ(r.header("etag"), "\"n2\"");
}

TEST_P(ServerTest, Fault503ThenHealthy) {
  server_->set_fault(Fault::kStatus503, 1);
  RawHttpClient c;
  connect(c);
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-9\r\n")));
  RawResponse r = c.read_response();
  EXPECT_EQ(r.status, 503);
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-9\r\n")));  // same connection still usable
  r = c.read_response();
  EXPECT_EQ(r.status, 206);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, SlowDownHasS3Body) {
  server_->set_fault(Fault::kStatus503SlowDown, 1);
  const RawResponse r = roundtrip(get("/obj"));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("<Code>SlowDown</Code>"), std::string::npos);
}

TEST_P(ServerTest, FaultsRespectPath) {
  server_->set_fault(Fault::kStatus500, -1, "/other");
  EXPECT_EQ(roundtrip(get("/obj", "Range: bytes=0-9\r\n")).status, 206);
  EXPECT_EQ(roundtrip(get("/other")).status, 500);
  EXPECT_EQ(roundtrip(get("/other")).status, 500);
  server_->clear_faults();
  EXPECT_EQ(roundtrip(get("/other")).status, 404);
}

TEST_P(ServerTest, IgnoreRangeSendsWholeObject) {
  server_->set_fault(Fault::kIgnoreRange, 1);
  const RawResponse r = roundtrip(get("/obj", "Range: bytes=100-199\r\n"));
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), kSize);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, TruncateClosesAfterHalfTheBody) {
  server_->set_fault(Fault::kTruncate, 1);
  const RawResponse r = roundtrip(get("/obj", "Range: bytes=0-99999\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("content-length"), "100000");
  EXPECT_FALSE(r.body_complete);
  EXPECT_EQ(r.body.size(), 50000u);
  EXPECT_TRUE(r.peer_closed || r.peer_error);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, ResetAfterHalfTheBody) {
  server_->set_fault(Fault::kReset, 1);
  const RawResponse r = roundtrip(get("/obj", "Range: bytes=0-99999\r\n"));
  EXPECT_FALSE(r.body_complete);
  EXPECT_LE(r.body.size(), 50000u);
  EXPECT_TRUE(r.peer_error);
}

TEST_P(ServerTest, StallHoldsUntilFaultsCleared) {
  server_->set_fault(Fault::kStall, 1);
  RawHttpClient c;
  connect(c);
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-99999\r\n")));
  std::thread clearer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server_->clear_faults();
  });
  const auto t0 = std::chrono::steady_clock::now();
  const RawResponse r = c.read_response();
  const auto waited = std::chrono::steady_clock::now() - t0;
  clearer.join();
  EXPECT_EQ(r.status, 206);
  EXPECT_FALSE(r.body_complete);
  EXPECT_EQ(r.body.size(), 50000u);
  EXPECT_GE(waited, std::chrono::milliseconds(150));
}

TEST_P(ServerTest, StopEndsStalledAndIdleConnections) {
  server_->set_fault(Fault::kStall, -1);
  RawHttpClient stalled, idle;
  connect(stalled);
  connect(idle);
  ASSERT_TRUE(stalled.send(get("/obj")));
  std::thread stopper([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server_->stop();
  });
  const RawResponse r = stalled.read_response();
  stopper.join();
  EXPECT_FALSE(r.body_complete);
  bool error = false;
  idle.read_until_close(1, &error);  // returns because the server closed it
}

TEST_P(ServerTest, MoreBytesSendsMoreThanTheContentRangeSays) {
  server_->set_fault(Fault::kMoreBytes, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-999\r\n"));
  EXPECT_EQ(r.header("content-range"), "bytes 0-999/" + std::to_string(kSize));
  EXPECT_GT(r.body.size(), 1000u);
  EXPECT_TRUE(body_is(r, kSeed, 0));
}

TEST_P(ServerTest, WrongContentRangeShiftsTheRangeAndItsBytes) {
  server_->set_fault(Fault::kWrongContentRange, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=4096-8191\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_NE(r.header("content-range"), "bytes 4096-8191/" + std::to_string(kSize));
  uint64_t bad = 0;
  EXPECT_FALSE(check_synthetic(kSeed, 4096, reinterpret_cast<const uint8_t*>(r.body.data()),
                               r.body.size(), &bad));
}

TEST_P(ServerTest, WrongTotalNamesAnotherSize) {
  server_->set_fault(Fault::kWrongTotal, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-9\r\n"));
  EXPECT_NE(r.header("content-range"), "bytes 0-9/" + std::to_string(kSize));
  EXPECT_EQ(r.header("content-range").substr(0, 10), "bytes 0-9/");
}

TEST_P(ServerTest, ChangeEtagAnswersFromAChangedObject) {
  server_->set_fault(Fault::kChangeEtag, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-99\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_NE(r.header("etag"), kEtag);
  uint64_t bad = 0;
  EXPECT_FALSE(check_synthetic(kSeed, 0, reinterpret_cast<const uint8_t*>(r.body.data()),
                               r.body.size(), &bad));
}

TEST_P(ServerTest, ChangeEtagFailsTheOldObjectsIfMatchWith412) {
  server_->set_fault(Fault::kChangeEtag, 1);
  RawResponse r =
      roundtrip(get("/obj", std::string("Range: bytes=0-99\r\nIf-Match: ") + kEtag + "\r\n"));
  EXPECT_EQ(r.status, 412);
}

TEST_P(ServerTest, ChangeEtagFailsTheOldObjectsIfUnmodifiedSinceWith412) {
  server_->set_fault(Fault::kChangeEtag, 1);
  RawResponse r = roundtrip(get(
      "/obj", std::string("Range: bytes=0-99\r\nIf-Unmodified-Since: ") + kLastModified + "\r\n"));
  EXPECT_EQ(r.status, 412);
}

TEST_P(ServerTest, ChunkedSendsTheRightBytesInChunks) {
  server_->set_fault(Fault::kChunked, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=10-200009\r\n"));
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.header("content-length"), "");
  EXPECT_TRUE(r.body_complete);
  EXPECT_EQ(r.body.size(), 200000u);
  EXPECT_TRUE(body_is(r, kSeed, 10));
}

TEST_P(ServerTest, GzipLabelsTheBytesGzip) {
  server_->set_fault(Fault::kGzip, 1);
  RawResponse r = roundtrip(get("/obj", "Range: bytes=0-9\r\n"));
  EXPECT_EQ(r.header("content-encoding"), "gzip");
}

TEST_P(ServerTest, AbsurdContentLengthAnnouncesATebibyteAndSendsTheAskedBytes) {
  server_->set_fault(Fault::kAbsurdContentLength, 1);
  RawHttpClient c;
  connect(c);
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-9\r\n")));
  RawResponse r = c.read_response(/*head_request=*/true);  // head only: the length is a lie
  EXPECT_GE(std::stoull(r.header("content-length")), 1ull << 40);
  bool error = false;
  EXPECT_EQ(c.read_until_close(1 << 20, &error).size(), 10u);
}

TEST_P(ServerTest, EndlessHeadersNeverEndTheHead) {
  server_->set_fault(Fault::kEndlessHeaders, 1);
  RawHttpClient e;
  connect(e);
  ASSERT_TRUE(e.send(get("/obj")));
  bool error = false;
  const std::string junk = e.read_until_close(256 * 1024, &error);
  EXPECT_EQ(junk.size(), 256u * 1024);
  EXPECT_EQ(junk.find("\r\n\r\n"), std::string::npos);
}

TEST_P(ServerTest, AnUnknownPathIs404) { EXPECT_EQ(roundtrip(get("/nothing")).status, 404); }

TEST_P(ServerTest, RedirectFromAnswers302ToRedirectTo) {
  const RawResponse redirect = roundtrip(get("/old"));
  EXPECT_EQ(redirect.status, 302);
  EXPECT_EQ(redirect.header("location"), "/obj");
}

TEST_P(ServerTest, ARequestHeadOver16KiBIs431) {
  const RawResponse big = roundtrip(get("/obj", "X-Big: " + std::string(20000, 'x') + "\r\n"));
  EXPECT_EQ(big.status, 431);
}

TEST_P(ServerTest, PacingHonoursConnMbps) {
  ServerOptions o = basic_options(GetParam());
  o.conn_mbps = 10;  // 10 MB/s → 2 MB in about 0.2 s
  start(o);
  const auto t0 = std::chrono::steady_clock::now();
  const RawResponse r = roundtrip(get("/obj", "Range: bytes=0-1999999\r\n"));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(body_is(r, kSeed, 0));
  EXPECT_GT(secs, 0.15);
  EXPECT_LT(secs, 5.0);
}

TEST_P(ServerTest, LatencyIsAddedBeforeTheAnswer) {
  ServerOptions o = basic_options(GetParam());
  o.latency_ms = 60;
  start(o);
  RawHttpClient c;
  connect(c);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send(get("/obj", "Range: bytes=0-9\r\n")));
  EXPECT_EQ(c.read_response().status, 206);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(55));
}

TEST_P(ServerTest, IgnoreIfMatchServesChangedObject) {
  ServerOptions o = basic_options(GetParam());
  o.ignore_if_match = true;
  start(o);
  server_->replace_object("/obj", 5, "\"obj-v2\"");
  const RawResponse r =
      roundtrip(get("/obj", std::string("Range: bytes=0-99\r\nIf-Match: ") + kEtag + "\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.header("etag"), "\"obj-v2\"");
  EXPECT_TRUE(body_is(r, 5, 0));
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, ServerTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "https" : "http"; });

}  // namespace
}  // namespace mmapurl::testserver
