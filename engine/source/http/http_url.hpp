// HttpUrl: parses http:// and https:// URLs into origin and request target without ever
// re-encoding the target (presigned URLs must be sent byte for byte). Pure, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::source {

struct HttpUrl {
  bool tls = false;
  std::string host;    // without brackets for IPv6 literals
  uint16_t port = 0;   // explicit or the scheme's default
  std::string target;  // path and query exactly as given ("/" at least)

  // "host" or "host:port" as the Host header wants it (port only when not the default).
  std::string host_header() const;
  // "https://host:port": the key connections are pooled by.
  std::string origin() const;
  // The URL with the query string cut off: safe to log (presigned queries carry signatures).
  std::string redacted() const;
};

// Parses an absolute http(s) URL. Returns nothing for anything malformed: empty, no host,
// bad port, no path, control bytes or spaces anywhere (never sent, never logged).
std::optional<HttpUrl> parse_http_url(std::string_view url);

// Resolves a redirect's Location header against the URL it came from (absolute URLs,
// absolute paths, and relative paths).
std::optional<HttpUrl> resolve_location(const HttpUrl& base, std::string_view location);

// True if the string holds a byte a request line or header must never carry.
bool has_forbidden_url_bytes(std::string_view s);

}  // namespace mmapurl::source
