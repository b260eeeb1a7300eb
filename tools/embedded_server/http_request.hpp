// Parsing of what a client sends: the request head and its Range header. Pure functions, no I/O,
// so the server's interpretation of every header can be unit-tested alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::testserver {

struct RequestHead {
  std::string method;
  std::string target;  // as sent
  std::string path;    // target without its query string
  std::optional<std::string> range;
  std::optional<std::string> if_match;
  std::optional<std::string> if_unmodified_since;
  bool wants_close = false;  // Connection: close, or HTTP/1.0 without keep-alive
  uint64_t content_length = 0;
};

// `head` is everything before the blank line that ends the request head. nullopt when malformed.
std::optional<RequestHead> parse_request_head(std::string_view head);

struct ResolvedRange {
  enum class Kind { kWhole, kPartial, kUnsatisfiable };
  Kind kind = Kind::kWhole;
  uint64_t first = 0;  // inclusive, valid for kPartial
  uint64_t last = 0;   // inclusive, valid for kPartial
};

// RFC 9110 single byte range against an object of `total` bytes. Malformed or multi-range
// headers are ignored (whole object), as the RFC allows.
ResolvedRange resolve_range(const std::optional<std::string>& header, uint64_t total);

// True when `if_match` (an If-Match value) matches `etag` by strong comparison.
bool if_match_satisfied(std::string_view if_match, std::string_view etag);

}  // namespace mmapurl::testserver
