// Parsing of http(s) URLs for the HTTP source; keeps the target byte for byte.
#include "source/http/http_url.hpp"

#include <charconv>

namespace mmapurl::source {

bool has_forbidden_url_bytes(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

static bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  if (url.empty() || has_forbidden_url_bytes(url)) return std::nullopt;
  HttpUrl out;
  std::string_view rest;
  if (starts_with_ci(url, "https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (starts_with_ci(url, "http://")) {
    out.port = 80;
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  // Userinfo is refused: credentials in URLs end up in logs.
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  if (!port.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(value);
  }
  // An object URL needs a path naming the object: "https://host" and "https://host/" name none.
  if (target.empty() || target.front() != '/' || target == "/") return std::nullopt;
  out.host = std::string(host);
  out.target = std::string(target);
  return out;
}

std::string HttpUrl::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((tls && port != 443) || (!tls && port != 80)) h += ":" + std::to_string(port);
  return h;
}

std::string HttpUrl::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + std::to_string(port);
}

std::string HttpUrl::redacted() const {
  std::string path = target.substr(0, target.find('?'));
  if (path.size() != target.size()) path += "?…";
  return std::string(tls ? "https://" : "http://") + host_header() + path;
}

std::optional<HttpUrl> resolve_location(const HttpUrl& base, std::string_view location) {
  if (location.empty() || has_forbidden_url_bytes(location)) return std::nullopt;
  // A fragment is never sent (found by fuzzing: it used to end up in the request target).
  location = location.substr(0, location.find('#'));
  if (location.empty()) return std::nullopt;
  if (starts_with_ci(location, "http://") || starts_with_ci(location, "https://")) {
    return parse_http_url(location);
  }
  HttpUrl out = base;
  if (location.substr(0, 2) == "//") {
    return parse_http_url(std::string(base.tls ? "https:" : "http:") + std::string(location));
  }
  if (location.front() == '/') {
    out.target = std::string(location);
  } else {
    std::string dir = base.target.substr(0, base.target.find('?'));
    dir = dir.substr(0, dir.rfind('/') + 1);
    out.target = dir + std::string(location);
  }
  return out;
}

}  // namespace mmapurl::source
