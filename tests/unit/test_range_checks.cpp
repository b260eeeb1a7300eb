// Content-Range parsing and the checks every ranged answer goes through: a lying server gets
// a clear verdict, never a wrong byte.
#include <gtest/gtest.h>

#include "source/http/content_range.hpp"
#include "source/object_source.hpp"

using namespace mmapurl::source;
using mmapurl::net::ResponseHead;

TEST(ContentRange, Parses) {
  auto r = parse_content_range("bytes 0-99/1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 99u);
  EXPECT_EQ(*r->total, 1000u);
  auto star = parse_content_range("bytes 5-9/*");
  ASSERT_TRUE(star);
  EXPECT_FALSE(star->total);
  auto uns = parse_content_range("bytes */0");
  ASSERT_TRUE(uns);
  EXPECT_TRUE(uns->unsatisfied);
  EXPECT_EQ(*uns->total, 0u);
  auto big = parse_content_range("bytes 4294967296-4294971391/5000000000");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->first, 4294967296ull);
}

TEST(ContentRange, RefusesMalformedAndOverflow) {
  for (const char* bad : {"", "bytes", "bytes 1-0/10", "bytes 0-10/10", "items 0-1/2", "bytes 0-1",
                          "bytes -1-2/3", "bytes 0-99999999999999999999/1", "bytes */*", "bytes a-b/c",
                          "bytes 0-1/2x"}) {
    EXPECT_FALSE(parse_content_range(bad)) << bad;
  }
}

static ResponseHead head(unsigned status, std::vector<std::pair<std::string, std::string>> h) {
  ResponseHead r;
  r.status = status;
  for (auto& [k, v] : h) r.headers.push_back({k, v});
  return r;
}

TEST(RangeChecks, AcceptsExactAnswer) {
  ObjectIdentity id;
  id.size = 1000;
  id.etag = "\"abc\"";
  auto v = check_range_response(head(206, {{"content-range", "bytes 100-199/1000"}, {"etag", "\"abc\""}}), id, 100, 199);
  EXPECT_EQ(v.error, SourceError::kNone) << v.message;
}

TEST(RangeChecks, RefusesLies) {
  ObjectIdentity id;
  id.size = 1000;
  id.etag = "\"abc\"";
  EXPECT_EQ(check_range_response(head(200, {}), id, 0, 9).error, SourceError::kRangeIgnored);
  EXPECT_EQ(check_range_response(head(206, {{"etag", "\"abc\""}}), id, 0, 9).error, SourceError::kProtocol);
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 1-10/1000"}, {"etag", "\"abc\""}}), id, 0, 9).error,
            SourceError::kProtocol);
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/999"}, {"etag", "\"abc\""}}), id, 0, 9).error,
            SourceError::kChanged);
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"}, {"etag", "\"new\""}}), id, 0, 9).error,
            SourceError::kChanged);
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"}}), id, 0, 9).error, SourceError::kChanged);
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"}, {"etag", "\"abc\""},
                                            {"content-encoding", "gzip"}}),
                                 id, 0, 9)
                .error,
            SourceError::kProtocol);
  ObjectIdentity dated;
  dated.size = 1000;
  dated.last_modified = "Mon, 23 Nov 2026 10:00:00 GMT";
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"},
                                            {"last-modified", "Mon, 23 Nov 2026 11:00:00 GMT"}}),
                                 dated, 0, 9)
                .error,
            SourceError::kChanged);
}

TEST(RangeChecks, ProbeLearnsIdentity) {
  ObjectIdentity id;
  auto v = identity_from_probe(head(206, {{"content-range", "bytes 0-99/12345"}, {"etag", "W/\"w\""},
                                          {"last-modified", "Mon, 23 Nov 2026 10:00:00 GMT"}}),
                               &id);
  EXPECT_EQ(v.error, SourceError::kNone);
  EXPECT_EQ(id.size, 12345u);
  EXPECT_TRUE(id.etag_weak);
  ObjectIdentity empty;
  EXPECT_EQ(identity_from_probe(head(416, {{"content-range", "bytes */0"}}), &empty).error, SourceError::kNone);
  EXPECT_EQ(empty.size, 0u);
  ObjectIdentity none;
  EXPECT_EQ(identity_from_probe(head(206, {{"content-range", "bytes 0-9/*"}}), &none).error, SourceError::kNoLength);
  ResponseHead whole = head(200, {});
  whole.content_length = 10;
  ObjectIdentity w;
  EXPECT_EQ(identity_from_probe(whole, &w).error, SourceError::kRangeIgnored);
  EXPECT_EQ(w.size, 10u);
}

// AWS S3's 416 to a range of an empty object often names no size: the probe cannot tell.
TEST(RangeChecks, ProbeRefusedWithoutTotalLearnsNoSize) {
  ObjectIdentity id;
  EXPECT_EQ(identity_from_probe(head(416, {{"content-type", "application/xml"}}), &id).error,
            SourceError::kProtocol);
  EXPECT_EQ(identity_from_probe(head(416, {{"content-range", "bytes */5"}}), &id).error,
            SourceError::kProtocol);
}

// The size request's answer (a HEAD): Content-Length is the size, validators as for the probe.
TEST(RangeChecks, HeadLearnsIdentity) {
  ResponseHead ok = head(200, {{"etag", "\"e\""}, {"last-modified", "Mon, 23 Nov 2026 10:00:00 GMT"},
                               {"x-amz-version-id", "v1"}});
  ok.content_length = 0;
  ObjectIdentity id;
  id.size = 77;
  EXPECT_EQ(identity_from_head(ok, &id).error, SourceError::kNone);
  EXPECT_EQ(id.size, 0u);
  EXPECT_EQ(id.etag, "\"e\"");
  EXPECT_FALSE(id.etag_weak);
  EXPECT_EQ(id.last_modified, "Mon, 23 Nov 2026 10:00:00 GMT");
  EXPECT_EQ(id.version_id, "v1");
  ObjectIdentity unsized;
  EXPECT_EQ(identity_from_head(head(200, {}), &unsized).error, SourceError::kNoLength);
  ResponseHead missing = head(404, {});
  missing.content_length = 0;
  ObjectIdentity gone;
  EXPECT_EQ(identity_from_head(missing, &gone).error, SourceError::kProtocol);
}

TEST(RangeChecks, StatusClassification) {
  EXPECT_TRUE(is_transient_status(503));
  EXPECT_TRUE(is_transient_status(500));
  EXPECT_TRUE(is_transient_status(429));
  EXPECT_FALSE(is_transient_status(404));
  EXPECT_FALSE(is_transient_status(403));
}

TEST(Pinning, AnObjectLargerThanTheProbeNeedsAValidatorOrTheOptIn) {
  constexpr uint64_t kProbe = 256 << 10;
  ObjectIdentity bare;
  bare.size = kProbe + 1;
  auto refused = judge_pinning(bare, kProbe, false);
  EXPECT_EQ(refused.error, SourceError::kUnpinned);
  EXPECT_NE(refused.message.find("neither ETag nor Last-Modified"), std::string::npos)
      << refused.message;
  EXPECT_NE(refused.message.find("MMAPURL_ALLOW_UNPINNED=1"), std::string::npos) << refused.message;
  auto allowed = judge_pinning(bare, kProbe, true);
  EXPECT_EQ(allowed.error, SourceError::kNone);
  EXPECT_NE(allowed.message.find("not pinned"), std::string::npos) << "for the log";
}

TEST(Pinning, AnObjectTheProbeHoldsWholeNeedsNone) {
  constexpr uint64_t kProbe = 256 << 10;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, kProbe}) {
    ObjectIdentity bare;
    bare.size = size;
    auto v = judge_pinning(bare, kProbe, false);
    EXPECT_EQ(v.error, SourceError::kNone) << size;
    EXPECT_EQ(v.message, "") << size;
  }
}

TEST(Pinning, AnyValidatorPins) {
  constexpr uint64_t kProbe = 4096;
  ObjectIdentity strong;
  strong.etag = "\"v1\"";
  ObjectIdentity weak;
  weak.etag = "W/\"v1\"";  // not sent as If-Match, but every 206's ETag is compared with it
  weak.etag_weak = true;
  ObjectIdentity dated;
  dated.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT";
  ObjectIdentity versioned;
  versioned.version_id = "3HL4kqtJlcpXroDTDmJ";
  for (ObjectIdentity id : {strong, weak, dated, versioned}) {
    id.size = 1 << 30;
    EXPECT_TRUE(has_validator(id));
    auto v = judge_pinning(id, kProbe, false);
    EXPECT_EQ(v.error, SourceError::kNone);
    EXPECT_EQ(v.message, "");
  }
}
