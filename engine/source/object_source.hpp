// ObjectSource: what a mapping reads from. HTTP and S3 are two sources; both answer ranged
// GETs, pinned to the object seen at mapping time. Building requests and checking answers is
// pure; the engine does the I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "net/http_types.hpp"
#include "net/origin.hpp"

namespace mmapurl::source {

// What the mapping saw of the object at mapping time; every later range must match it.
struct ObjectIdentity {
  uint64_t size = 0;
  std::string etag;  // as sent, quotes included; empty if none
  bool etag_weak = false;
  std::string last_modified;  // HTTP date; empty if none
  std::string version_id;     // S3 versioned buckets
};

enum class SourceError : uint8_t {
  kNone,
  kTransient,      // retry with backoff
  kChanged,        // the object is not the one that was mapped: permanent
  kNotFound,       // 404 / NoSuchKey / NoSuchBucket
  kPermission,     // 401 / 403; or no credentials to sign with
  kProtocol,       // the server broke the protocol (wrong range, 200 to a range, ...)
  kNoLength,       // no total size learnt
  kRangeIgnored,   // 200 with the whole object to a ranged GET
  kUnpinned,       // no validator to tell a same-size replacement by, and not opted in
  kInvalidUrl,     // a malformed URL, S3 endpoint or region: refused before any I/O
  kUnusableProxy,  // a proxy variable applies to the URL and names a proxy the engine cannot use
};

struct SourceVerdict {
  SourceError error = SourceError::kNone;
  std::string message;
};

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  virtual const net::Origin& origin() const = 0;
  // A GET for bytes [first, last]; `pinned` adds the snapshot conditions (If-Match, ...).
  virtual net::RequestSpec range_request(uint64_t first, uint64_t last, bool pinned) = 0;
  // The URL without its query string: safe for logs and error messages.
  virtual std::string describe() const = 0;
  // Classifies an error status (4xx/5xx) with its body (S3 error XML, ...).
  virtual SourceVerdict classify_status(const net::ResponseHead& head,
                                        const std::string& body) const;

  // A request that learns the size when the first range was refused with 416 and no total
  // (S3 answers so for empty objects): a HEAD. Nothing if the source has none.
  virtual std::optional<net::RequestSpec> size_request() { return std::nullopt; }
  // An answer that tells the source to change itself (S3: the bucket's real region, from
  // x-amz-bucket-region on a 301/400). True if the request should be made again.
  virtual bool adapt_to(const net::ResponseHead&, const std::string& /*body*/) { return false; }
  // The source a 3xx answer sends the reader to, or null with `*why` (the whole message) when it
  // cannot be followed. Only HTTP sources follow Location; `allow_tls_downgrade` lets an https://
  // source go to http:// (MMAPURL_ALLOW_TLS_DOWNGRADE).
  virtual std::unique_ptr<ObjectSource> redirected(const net::ResponseHead& head,
                                                   bool allow_tls_downgrade,
                                                   std::string* why) const;

  const ObjectIdentity& identity() const { return identity_; }
  void set_identity(ObjectIdentity id) { identity_ = std::move(id); }

 protected:
  ObjectIdentity identity_;
};

// Checks a 206 against the range asked for and the pinned identity. Pure.
SourceVerdict check_range_response(const net::ResponseHead& head, const ObjectIdentity& identity,
                                   uint64_t first, uint64_t last);

// Learns the identity from the answer to the mapping-time probe (`bytes=0-(probe-1)`).
// For a 200 (server ignores Range) the identity is filled when Content-Length is known, with
// kRangeIgnored. For 416 with "bytes */0" the object is empty.
SourceVerdict identity_from_probe(const net::ResponseHead& head, ObjectIdentity* out);

// Learns the identity from the answer to the size request (a HEAD, sent after the probe got a
// 416 without the total): size from Content-Length, validators as the probe reads them.
// kNoLength without Content-Length; kProtocol for a status other than 2xx.
SourceVerdict identity_from_head(const net::ResponseHead& head, ObjectIdentity* out);

// Whether a replacement of the same size can be told from the mapped object: the probe saw an
// ETag (strong or weak: each 206's is compared), a Last-Modified or an S3 version id.
bool has_validator(const ObjectIdentity& id);

// Judges an identity learnt from a probe of `probe_bytes`. An object the probe holds whole is
// read in one answer and needs no validator. A larger one without any is refused (kUnpinned,
// the message names MMAPURL_ALLOW_UNPINNED), since its later ranges could mix pages of two
// same-size objects; with `allow_unpinned` it passes with a message saying it is not pinned,
// for the log. Otherwise kNone with no message.
SourceVerdict judge_pinning(const ObjectIdentity& id, uint64_t probe_bytes, bool allow_unpinned);

// True if a status is worth retrying (timeouts, 5xx, 429, S3's SlowDown).
bool is_transient_status(unsigned status);

}  // namespace mmapurl::source
