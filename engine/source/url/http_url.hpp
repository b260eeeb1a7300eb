// HttpUrl: an http:// or https:// URL split into what a client connects to and what it sends.
// One type and one parser for every URL the engine reads: object URLs (the HTTP source and its
// redirects), S3 custom endpoints, the credential services' endpoints and proxy variables. The
// rules that differ by use are named by UrlUse. The target is never re-encoded: presigned URLs
// must be sent byte for byte. Pure, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::source {

struct HttpUrl {
  bool tls = false;
  std::string host;    // IPv6 literals without brackets
  uint16_t port = 0;   // as written, else the scheme's default
  bool ipv6 = false;   // the host goes on the wire in brackets (parse_http_url says when)
  std::string target;  // path and query exactly as written (objects: "/" and more)

  std::string_view scheme() const { return tls ? "https" : "http"; }
  // The target before its first '?'; "" when the URL has no path.
  std::string_view path() const;
  // The target after its first '?'; "" when there is none.
  std::string_view query() const;
  // What a request to an endpoint sends: the path ("/" when none), then "?query" when the query
  // is not empty.
  std::string request_target() const;
  // "host" or "host:port" as the Host header wants it (port only when not the default).
  std::string host_header() const;
  // "https://host:port": the key connections are pooled by.
  std::string origin() const;
  // The URL with the query string cut off: safe to log (presigned queries carry signatures).
  std::string redacted() const;
};

// What a URL is parsed for. Every use refuses control bytes and spaces anywhere (they would
// reach a request line), any scheme but http and https, user information (credentials in
// URLs end up in logs), an unterminated "[", anything but ":port" after "]", an empty host and
// a port outside 1-65535.
enum class UrlUse : uint8_t {
  // Names an object: needs a path other than "/"; a fragment is dropped (never sent); the host
  // is taken as written; "host:" means the default port; `ipv6` when the host holds a ':'.
  kObject,
  // A service's base URL (S3 endpoint, STS, container agent, IMDS): path and query optional;
  // a fragment is refused; the host holds only letters, digits, "-._" (in brackets also ":%"),
  // so a bad setting fails with a message instead of a strange request; `ipv6` when bracketed.
  kEndpoint,
  // A proxy: only scheme and authority count; path, query and fragment are ignored.
  kProxy,
};

enum class UrlProblem : uint8_t {
  kNone,
  kForbiddenBytes,
  kNoScheme,
  kBadScheme,
  kFragment,
  kUserInfo,
  kUnterminatedIpv6,
  kJunkAfterIpv6,
  kNoHost,
  kBadHost,
  kBadPort,
  kNoObjectPath,
};

// "URL has no host", ...: names no part of the URL, which may hold secrets.
std::string_view describe(UrlProblem problem);

struct UrlParse {
  std::optional<HttpUrl> url;
  UrlProblem problem = UrlProblem::kNone;  // why `url` is empty
  std::string error() const { return std::string(describe(problem)); }
};

UrlParse parse_http_url(std::string_view text, UrlUse use);

// Resolves a redirect's Location header against the object URL it came from (absolute URLs,
// protocol-relative "//host/...", absolute paths and relative paths). A fragment is never sent.
std::optional<HttpUrl> resolve_location(const HttpUrl& base, std::string_view location);

// True if the string holds a byte a request line or header must never carry.
bool has_forbidden_url_bytes(std::string_view s);

}  // namespace mmapurl::source
