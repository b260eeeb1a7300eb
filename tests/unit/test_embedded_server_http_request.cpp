// The embedded test server's request parsing (tools/embedded_server/http_request.hpp): the
// request head, Range forms resolved against an object's size, and strong If-Match comparison.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "embedded_server/http_request.hpp"

namespace mmapurl::testserver {
namespace {

using Kind = ResolvedRange::Kind;

TEST(ResolveRange, AFirstAndLastByteArePartial) {
  auto r = resolve_range(std::string("bytes=10-19"), 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 10u);
  EXPECT_EQ(r.last, 19u);
}

TEST(ResolveRange, AnOpenRangeRunsToTheEnd) {
  auto r = resolve_range(std::string("bytes=90-"), 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
}

TEST(ResolveRange, ASuffixIsTheLastBytesAndAtMostTheObject) {
  auto r = resolve_range(std::string("bytes=-5"), 100);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.first, 95u);
  EXPECT_EQ(r.last, 99u);
  r = resolve_range(std::string("bytes=-500"), 100);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 99u);
}

TEST(ResolveRange, ALastBytePastTheEndIsClamped) {
  auto r = resolve_range(std::string("bytes=50-1000"), 100);
  EXPECT_EQ(r.last, 99u);
}

TEST(ResolveRange, ARangeStartingPastTheEndOrAnyRangeOfNothingIsUnsatisfiable) {
  EXPECT_EQ(resolve_range(std::string("bytes=100-200"), 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=-0"), 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=0-10"), 0).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(resolve_range(std::string("bytes=-10"), 0).kind, Kind::kUnsatisfiable);
}

TEST(ResolveRange, NoRangeOrOneItCannotServeGetsTheWholeObject) {
  EXPECT_EQ(resolve_range(std::nullopt, 100).kind, Kind::kWhole);
  EXPECT_EQ(resolve_range(std::string("bytes=5-1"), 100).kind, Kind::kWhole);
  EXPECT_EQ(resolve_range(std::string("bytes=0-1,5-6"), 100).kind, Kind::kWhole);
  EXPECT_EQ(resolve_range(std::string("items=0-1"), 100).kind, Kind::kWhole);
  EXPECT_EQ(resolve_range(std::string("bytes=x-1"), 100).kind, Kind::kWhole);
  EXPECT_EQ(resolve_range(std::string("bytes=99999999999999999999-"), 100).kind, Kind::kWhole);
}

TEST(IfMatch, StrongComparison) {
  EXPECT_TRUE(if_match_satisfied("\"a\"", "\"a\""));
  EXPECT_TRUE(if_match_satisfied("\"x\", \"a\"", "\"a\""));
  EXPECT_TRUE(if_match_satisfied("*", "\"a\""));
  EXPECT_FALSE(if_match_satisfied("*", ""));
  EXPECT_FALSE(if_match_satisfied("\"b\"", "\"a\""));
  EXPECT_FALSE(if_match_satisfied("W/\"a\"", "\"a\""));
}

TEST(RequestHead, GivesTheMethodPathAndTheHeadersTheServerUses) {
  auto req = parse_request_head(
      "GET /obj?x=1 HTTP/1.1\r\nHost: h\r\nrange:  bytes=0-9 \r\nIf-Match: \"e\"\r\n"
      "Connection: Close");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->method, "GET");
  EXPECT_EQ(req->path, "/obj");
  EXPECT_EQ(*req->range, "bytes=0-9");
  EXPECT_EQ(*req->if_match, "\"e\"");
  EXPECT_TRUE(req->wants_close);
}

TEST(RequestHead, Http10ClosesAndHttp11KeepsTheConnection) {
  auto req = parse_request_head("GET / HTTP/1.0\r\nHost: h");
  ASSERT_TRUE(req);
  EXPECT_TRUE(req->wants_close);
  req = parse_request_head("GET / HTTP/1.1\r\nHost: h");
  ASSERT_TRUE(req);
  EXPECT_FALSE(req->wants_close);
}

TEST(RequestHead, NoRequestLineOrAHeaderWithoutAColonIsRefused) {
  EXPECT_FALSE(parse_request_head("garbage"));
  EXPECT_FALSE(parse_request_head("GET / HTTP/1.1\r\nno colon here"));
}

}  // namespace
}  // namespace mmapurl::testserver
