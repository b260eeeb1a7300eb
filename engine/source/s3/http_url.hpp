// Splits an http:// or https:// URL into the parts a client connects with. Used for custom
// S3 endpoints and for the container / instance metadata credential endpoints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::s3 {

struct HttpUrl {
  std::string scheme;  // "http" or "https" (lower-cased)
  std::string host;    // IPv6 literals without brackets
  uint16_t port = 0;   // the scheme's default when not given
  bool explicit_port = false;
  bool ipv6 = false;
  std::string path;   // as written, "" when absent
  std::string query;  // without '?', "" when absent

  // "host", "[v6]", plus ":port" when the port is not the scheme's default.
  std::string host_header() const;
  // path (or "/") plus "?query".
  std::string target() const;
};

// std::nullopt with `error` set for anything but http(s)://host[:port][/path][?query]; user
// information and fragments are refused.
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& error);

}  // namespace mmapurl::s3
