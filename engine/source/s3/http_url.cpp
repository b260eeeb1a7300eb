// http(s) URL splitting with the validation endpoint settings need (bounded port, host
// characters), so a bad setting fails with a message instead of a strange request.
#include "source/s3/http_url.hpp"

#include <charconv>

#include "source/http/http_url.hpp"

namespace mmapurl::s3 {

std::string HttpUrl::host_header() const {
  std::string out = ipv6 ? "[" + host + "]" : host;
  if (explicit_port && port != (scheme == "https" ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string HttpUrl::target() const {
  std::string out = path.empty() ? std::string("/") : path;
  if (!query.empty()) out += "?" + query;
  return out;
}

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& error) {
  HttpUrl out;
  // The same rule as object URLs: an endpoint path with CR/LF or spaces would reach the
  // request line (found by fuzzing).
  if (source::has_forbidden_url_bytes(url)) {
    error = "URL contains spaces or control bytes";
    return std::nullopt;
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    error = "URL needs http:// or https://";
    return std::nullopt;
  }
  for (char c : url.substr(0, sep)) {
    out.scheme.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (out.scheme != "http" && out.scheme != "https") {
    error = "URL scheme must be http or https";
    return std::nullopt;
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) {
    error = "URL may not have a fragment";
    return std::nullopt;
  }
  size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    out.query = std::string(rest.substr(question + 1));
    rest = rest.substr(0, question);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    error = "URL may not carry user information";
    return std::nullopt;
  }
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "URL has an unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    out.ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "URL has junk after its IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (out.host.empty()) {
    error = "URL has no host";
    return std::nullopt;
  }
  for (char c : out.host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || (out.ipv6 && (c == ':' || c == '%'));
    if (!ok) {
      error = "URL host has invalid characters";
      return std::nullopt;
    }
  }
  out.port = out.scheme == "https" ? 443 : 80;
  if (has_port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
        value == 0 || value > 65535) {
      error = "URL has an invalid port";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(value);
    out.explicit_port = true;
  }
  return out;
}

}  // namespace mmapurl::s3
