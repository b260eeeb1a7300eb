// The checks of source/object_source.hpp every answer goes through: what a probe and a size
// request (HEAD) teach about the object, the verdict on each ranged answer (a lying server gets a
// clear verdict, never a wrong byte), which statuses are transient, and when an object is pinned.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "source/object_source.hpp"

namespace mmapurl::source {
namespace {

using net::ResponseHead;

ResponseHead head(unsigned status, std::vector<std::pair<std::string, std::string>> h) {
  ResponseHead r;
  r.status = status;
  for (auto& [k, v] : h) r.headers.push_back({k, v});
  return r;
}

// The object the ranged answers below are checked against: 1000 bytes, ETag "abc".
ObjectIdentity object_abc() {
  ObjectIdentity id;
  id.size = 1000;
  id.etag = "\"abc\"";
  return id;
}

// --- ranged answers ---

TEST(RangeChecks, AcceptsExactAnswer) {
  ObjectIdentity id = object_abc();
  auto v = check_range_response(
      head(206, {{"content-range", "bytes 100-199/1000"}, {"etag", "\"abc\""}}), id, 100, 199);
  EXPECT_EQ(v.error, SourceError::kNone) << v.message;
}

TEST(RangeChecks, AWholeObjectAnswerToARangeIsRangeIgnored) {
  EXPECT_EQ(check_range_response(head(200, {}), object_abc(), 0, 9).error,
            SourceError::kRangeIgnored);
}

TEST(RangeChecks, APartialAnswerWithoutContentRangeIsAProtocolError) {
  EXPECT_EQ(check_range_response(head(206, {{"etag", "\"abc\""}}), object_abc(), 0, 9).error,
            SourceError::kProtocol);
}

TEST(RangeChecks, APartialAnswerOfOtherBytesIsAProtocolError) {
  EXPECT_EQ(
      check_range_response(head(206, {{"content-range", "bytes 1-10/1000"}, {"etag", "\"abc\""}}),
                           object_abc(), 0, 9)
          .error,
      SourceError::kProtocol);
}

TEST(RangeChecks, AnotherTotalMeansTheObjectChanged) {
  EXPECT_EQ(
      check_range_response(head(206, {{"content-range", "bytes 0-9/999"}, {"etag", "\"abc\""}}),
                           object_abc(), 0, 9)
          .error,
      SourceError::kChanged);
}

TEST(RangeChecks, AnotherEtagMeansTheObjectChanged) {
  EXPECT_EQ(
      check_range_response(head(206, {{"content-range", "bytes 0-9/1000"}, {"etag", "\"new\""}}),
                           object_abc(), 0, 9)
          .error,
      SourceError::kChanged);
}

TEST(RangeChecks, AnEtagNoLongerSentMeansTheObjectChanged) {
  EXPECT_EQ(
      check_range_response(head(206, {{"content-range", "bytes 0-9/1000"}}), object_abc(), 0, 9)
          .error,
      SourceError::kChanged);
}

TEST(RangeChecks, AnEncodedBodyIsAProtocolError) {
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"},
                                            {"etag", "\"abc\""},
                                            {"content-encoding", "gzip"}}),
                                 object_abc(), 0, 9)
                .error,
            SourceError::kProtocol);
}

TEST(RangeChecks, AnotherLastModifiedMeansTheObjectChanged) {
  ObjectIdentity dated;
  dated.size = 1000;
  dated.last_modified = "Mon, 23 Nov 2026 10:00:00 GMT";
  EXPECT_EQ(check_range_response(head(206, {{"content-range", "bytes 0-9/1000"},
                                            {"last-modified", "Mon, 23 Nov 2026 11:00:00 GMT"}}),
                                 dated, 0, 9)
                .error,
            SourceError::kChanged);
}

// --- the probe's answer ---

TEST(ProbeIdentity, APartialAnswerGivesTheSizeAndTheValidators) {
  ObjectIdentity id;
  auto v = identity_from_probe(head(206, {{"content-range", "bytes 0-99/12345"},
                                          {"etag", "W/\"w\""},
                                          {"last-modified", "Mon, 23 Nov 2026 10:00:00 GMT"}}),
                               &id);
  EXPECT_EQ(v.error, SourceError::kNone);
  EXPECT_EQ(id.size, 12345u);
  EXPECT_TRUE(id.etag_weak);
}

TEST(ProbeIdentity, A416NamingTotalZeroIsAnEmptyObject) {
  ObjectIdentity empty;
  EXPECT_EQ(identity_from_probe(head(416, {{"content-range", "bytes */0"}}), &empty).error,
            SourceError::kNone);
  EXPECT_EQ(empty.size, 0u);
}

TEST(ProbeIdentity, AnUnknownTotalIsNoLength) {
  ObjectIdentity none;
  EXPECT_EQ(identity_from_probe(head(206, {{"content-range", "bytes 0-9/*"}}), &none).error,
            SourceError::kNoLength);
}

TEST(ProbeIdentity, AWholeObjectAnswerIsRangeIgnoredYetGivesTheSize) {
  ResponseHead whole = head(200, {});
  whole.content_length = 10;
  ObjectIdentity w;
  EXPECT_EQ(identity_from_probe(whole, &w).error, SourceError::kRangeIgnored);
  EXPECT_EQ(w.size, 10u);
}

// AWS S3's 416 to a range of an empty object often names no size: the probe cannot tell.
TEST(ProbeIdentity, A416WithoutTotalZeroLearnsNoSize) {
  ObjectIdentity id;
  EXPECT_EQ(identity_from_probe(head(416, {{"content-type", "application/xml"}}), &id).error,
            SourceError::kProtocol);
  EXPECT_EQ(identity_from_probe(head(416, {{"content-range", "bytes */5"}}), &id).error,
            SourceError::kProtocol);
}

// --- the size request's answer (a HEAD): Content-Length is the size, validators as for the probe

TEST(HeadIdentity, ContentLengthIsTheSizeAndTheValidatorsAreKept) {
  ResponseHead ok = head(200, {{"etag", "\"e\""},
                               {"last-modified", "Mon, 23 Nov 2026 10:00:00 GMT"},
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
}

TEST(HeadIdentity, WithoutContentLengthItIsNoLength) {
  ObjectIdentity unsized;
  EXPECT_EQ(identity_from_head(head(200, {}), &unsized).error, SourceError::kNoLength);
}

TEST(HeadIdentity, AStatusOtherThan200IsAProtocolError) {
  ResponseHead missing = head(404, {});
  missing.content_length = 0;
  ObjectIdentity gone;
  EXPECT_EQ(identity_from_head(missing, &gone).error, SourceError::kProtocol);
}

// --- statuses ---

TEST(TransientStatus, ServerErrorsAndTooManyRequestsAreTransientNotFoundAndForbiddenAreNot) {
  EXPECT_TRUE(is_transient_status(503));
  EXPECT_TRUE(is_transient_status(500));
  EXPECT_TRUE(is_transient_status(429));
  EXPECT_FALSE(is_transient_status(404));
  EXPECT_FALSE(is_transient_status(403));
}

// --- pinning ---

constexpr uint64_t kProbe = 256 << 10;

// An object larger than the probe, with no validator at all.
ObjectIdentity bare_object_past_the_probe() {
  ObjectIdentity bare;
  bare.size = kProbe + 1;
  return bare;
}

TEST(Pinning, AnObjectLargerThanTheProbeWithoutAValidatorIsRefusedNamingTheOptIn) {
  auto refused = judge_pinning(bare_object_past_the_probe(), kProbe, false);
  EXPECT_EQ(refused.error, SourceError::kUnpinned);
  EXPECT_NE(refused.message.find("neither ETag nor Last-Modified"), std::string::npos)
      << refused.message;
  EXPECT_NE(refused.message.find("MMAPURL_ALLOW_UNPINNED=1"), std::string::npos) << refused.message;
}

TEST(Pinning, WithTheOptInAnUnpinnedObjectIsAllowedAndSaidToBeNotPinned) {
  auto allowed = judge_pinning(bare_object_past_the_probe(), kProbe, true);
  EXPECT_EQ(allowed.error, SourceError::kNone);
  EXPECT_NE(allowed.message.find("not pinned"), std::string::npos) << "for the log";
}

TEST(Pinning, AnObjectTheProbeHoldsWholeNeedsNone) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, kProbe}) {
    ObjectIdentity bare;
    bare.size = size;
    auto v = judge_pinning(bare, kProbe, false);
    EXPECT_EQ(v.error, SourceError::kNone) << size;
    EXPECT_EQ(v.message, "") << size;
  }
}

TEST(Pinning, AnyValidatorPins) {
  constexpr uint64_t kSmallProbe = 4096;
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
    auto v = judge_pinning(id, kSmallProbe, false);
    EXPECT_EQ(v.error, SourceError::kNone);
    EXPECT_EQ(v.message, "");
  }
}

}  // namespace
}  // namespace mmapurl::source
