// Range-response checks shared by every source: Content-Range, ETag, status classification.
#include "source/object_source.hpp"

#include "source/http/content_range.hpp"

namespace mmapurl::source {

bool is_transient_status(unsigned status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

SourceVerdict ObjectSource::classify_status(const net::ResponseHead& head,
                                            const std::string&) const {
  unsigned s = head.status;
  if (s == 404 || s == 410)
    return {SourceError::kNotFound, "not found (HTTP " + std::to_string(s) + ")"};
  if (s == 401 || s == 403) {
    return {SourceError::kPermission, "permission denied (HTTP " + std::to_string(s) + ")"};
  }
  if (s == 412) return {SourceError::kChanged, "object changed since it was mapped (HTTP 412)"};
  if (is_transient_status(s)) return {SourceError::kTransient, "HTTP " + std::to_string(s)};
  return {SourceError::kProtocol, "unexpected HTTP status " + std::to_string(s)};
}

static bool etag_is_weak(const std::string& etag) { return etag.rfind("W/", 0) == 0; }

SourceVerdict check_range_response(const net::ResponseHead& head, const ObjectIdentity& identity,
                                   uint64_t first, uint64_t last) {
  if (head.status == 200) {
    return {SourceError::kRangeIgnored, "server answered 200 (whole object) to a ranged GET"};
  }
  if (head.status != 206)
    return {SourceError::kProtocol, "unexpected status " + std::to_string(head.status)};
  const std::string* cr = head.find("content-range");
  if (!cr) return {SourceError::kProtocol, "206 without Content-Range"};
  auto range = parse_content_range(*cr);
  if (!range || range->unsatisfied) return {SourceError::kProtocol, "malformed Content-Range"};
  // Without the total, a replaced object of another size could pass unnoticed.
  if (!range->total) return {SourceError::kProtocol, "Content-Range without the total size"};
  if (*range->total != identity.size) {
    return {SourceError::kChanged, "object size changed from " + std::to_string(identity.size) +
                                       " to " + std::to_string(*range->total)};
  }
  if (range->first != first || range->last != last) {
    return {SourceError::kProtocol, "Content-Range " + *cr + " does not match the range asked for"};
  }
  if (head.content_encoding_set()) {
    return {SourceError::kProtocol, "compressed body to a ranged GET"};
  }
  if (!identity.etag.empty()) {
    const std::string* etag = head.find("etag");
    // Servers that ignore If-Match still say which object they served.
    if (!etag || *etag != identity.etag) {
      return {SourceError::kChanged, "object changed since it was mapped (ETag differs)"};
    }
  }
  if (identity.etag.empty() && !identity.last_modified.empty()) {
    const std::string* lm = head.find("last-modified");
    if (lm && *lm != identity.last_modified) {
      return {SourceError::kChanged, "object changed since it was mapped (Last-Modified differs)"};
    }
  }
  return {};
}

// ETag, Last-Modified and S3's version id: what later ranges are pinned to.
static void read_validators(const net::ResponseHead& head, ObjectIdentity* out) {
  if (const std::string* e = head.find("etag")) {
    out->etag = *e;
    out->etag_weak = etag_is_weak(*e);
  }
  if (const std::string* lm = head.find("last-modified")) out->last_modified = *lm;
  if (const std::string* v = head.find("x-amz-version-id")) {
    if (*v != "null") out->version_id = *v;
  }
}

SourceVerdict identity_from_head(const net::ResponseHead& head, ObjectIdentity* out) {
  if (head.status / 100 != 2) {
    return {SourceError::kProtocol,
            "unexpected status " + std::to_string(head.status) + " to HEAD"};
  }
  if (!head.content_length) return {SourceError::kNoLength, "HEAD answered without Content-Length"};
  read_validators(head, out);
  out->size = *head.content_length;
  return {};
}

SourceVerdict identity_from_probe(const net::ResponseHead& head, ObjectIdentity* out) {
  read_validators(head, out);
  if (head.status == 416) {
    const std::string* cr = head.find("content-range");
    auto range = cr ? parse_content_range(*cr) : std::nullopt;
    if (range && range->unsatisfied && range->total == 0) {
      out->size = 0;
      return {};
    }
    return {SourceError::kProtocol, "416 to the first range of an object that is not empty"};
  }
  if (head.status == 200) {
    if (head.content_length) {
      out->size = *head.content_length;
      return {SourceError::kRangeIgnored, "server ignores Range requests (answered 200)"};
    }
    return {SourceError::kNoLength, "200 without Content-Length"};
  }
  if (head.status != 206)
    return {SourceError::kProtocol, "unexpected status " + std::to_string(head.status)};
  const std::string* cr = head.find("content-range");
  if (!cr) return {SourceError::kNoLength, "206 without Content-Range"};
  if (*cr == "bytes 0-0/0") {
    // An empty object as s3rver answers it: nothing to misread; any body is dropped. Any other
    // Content-Range naming a total of 0 is malformed and parsed (and refused) below.
    out->size = 0;
    return {};
  }
  auto range = parse_content_range(*cr);
  if (!range || range->unsatisfied)
    return {SourceError::kProtocol, "malformed Content-Range: " + *cr};
  if (!range->total) return {SourceError::kNoLength, "Content-Range without total size"};
  if (range->first != 0) return {SourceError::kProtocol, "Content-Range does not start at 0"};
  if (head.content_encoding_set())
    return {SourceError::kProtocol, "compressed body to a ranged GET"};
  out->size = *range->total;
  return {};
}

bool has_validator(const ObjectIdentity& id) {
  return !id.etag.empty() || !id.last_modified.empty() || !id.version_id.empty();
}

SourceVerdict judge_pinning(const ObjectIdentity& id, uint64_t probe_bytes, bool allow_unpinned) {
  if (id.size <= probe_bytes || has_validator(id)) return {};
  const std::string what =
      "the server sent neither ETag nor Last-Modified: a replacement of the same size (" +
      std::to_string(id.size) + " bytes) while mapped would mix old and new pages";
  if (!allow_unpinned) {
    return {SourceError::kUnpinned, what + "; set MMAPURL_ALLOW_UNPINNED=1 to map it anyway"};
  }
  return {SourceError::kNone, "not pinned (MMAPURL_ALLOW_UNPINNED=1): " + what};
}

std::unique_ptr<ObjectSource> ObjectSource::redirected(const net::ResponseHead&, bool,
                                                       std::string* why) const {
  *why = describe() + ": bad or too many redirects";
  return nullptr;
}

}  // namespace mmapurl::source
