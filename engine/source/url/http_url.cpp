// Parsing of http(s) URLs: scheme, authority (host in brackets or not, port), target kept byte
// for byte; and redirect resolution.
#include "source/url/http_url.hpp"

#include <charconv>

namespace mmapurl::source {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

// "http" or "https" before the first "://"; `rest` is what follows it.
UrlProblem split_scheme(std::string_view text, bool* tls, std::string_view* rest) {
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return UrlProblem::kNoScheme;
  std::string scheme;
  for (char c : text.substr(0, sep)) scheme.push_back(lower(c));
  if (scheme != "http" && scheme != "https") return UrlProblem::kBadScheme;
  *tls = scheme == "https";
  *rest = text.substr(sep + 3);
  return UrlProblem::kNone;
}

struct Authority {
  std::string_view host;
  bool bracketed = false;
  std::optional<std::string_view> port;  // the text after ':', when there is a ':'
};

// "host", "host:port", "[v6]" or "[v6]:port".
UrlProblem split_authority(std::string_view authority, Authority* out) {
  if (authority.find('@') != std::string_view::npos) return UrlProblem::kUserInfo;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return UrlProblem::kUnterminatedIpv6;
    out->host = authority.substr(1, close - 1);
    out->bracketed = true;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return UrlProblem::kJunkAfterIpv6;
      out->port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    out->host = authority.substr(0, colon);
    out->port = authority.substr(colon + 1);
  } else {
    out->host = authority;
  }
  return out->host.empty() ? UrlProblem::kNoHost : UrlProblem::kNone;
}

bool endpoint_host_allowed(std::string_view host, bool bracketed) {
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || (bracketed && (c == ':' || c == '%'));
    if (!ok) return false;
  }
  return true;
}

// Sets `port` from the text after ':' (left at the scheme's default when there is none).
UrlProblem read_port(const std::optional<std::string_view>& text, UrlUse use, uint16_t* port) {
  if (!text) return UrlProblem::kNone;
  if (text->empty()) return use == UrlUse::kObject ? UrlProblem::kNone : UrlProblem::kBadPort;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || value == 0 || value > 65535) {
    return UrlProblem::kBadPort;
  }
  *port = static_cast<uint16_t>(value);
  return UrlProblem::kNone;
}

UrlParse refused(UrlProblem problem) {
  UrlParse out;
  out.problem = problem;
  return out;
}

}  // namespace

bool has_forbidden_url_bytes(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string_view describe(UrlProblem problem) {
  switch (problem) {
    case UrlProblem::kNone:
      return "URL is valid";
    case UrlProblem::kForbiddenBytes:
      return "URL contains spaces or control bytes";
    case UrlProblem::kNoScheme:
      return "URL needs http:// or https://";
    case UrlProblem::kBadScheme:
      return "URL scheme must be http or https";
    case UrlProblem::kFragment:
      return "URL may not have a fragment";
    case UrlProblem::kUserInfo:
      return "URL may not carry user information";
    case UrlProblem::kUnterminatedIpv6:
      return "URL has an unterminated IPv6 address";
    case UrlProblem::kJunkAfterIpv6:
      return "URL has junk after its IPv6 address";
    case UrlProblem::kNoHost:
      return "URL has no host";
    case UrlProblem::kBadHost:
      return "URL host has invalid characters";
    case UrlProblem::kBadPort:
      return "URL has an invalid port";
    case UrlProblem::kNoObjectPath:
      return "URL names no object (it needs a path after the host)";
  }
  return "URL is malformed";
}

UrlParse parse_http_url(std::string_view text, UrlUse use) {
  if (has_forbidden_url_bytes(text)) return refused(UrlProblem::kForbiddenBytes);
  HttpUrl url;
  std::string_view rest;
  if (UrlProblem p = split_scheme(text, &url.tls, &rest); p != UrlProblem::kNone) return refused(p);
  if (use == UrlUse::kEndpoint && rest.find('#') != std::string_view::npos) {
    return refused(UrlProblem::kFragment);
  }
  const size_t authority_end = rest.find_first_of("/?#");
  Authority authority;
  if (UrlProblem p = split_authority(rest.substr(0, authority_end), &authority);
      p != UrlProblem::kNone) {
    return refused(p);
  }
  if (use == UrlUse::kEndpoint && !endpoint_host_allowed(authority.host, authority.bracketed)) {
    return refused(UrlProblem::kBadHost);
  }
  url.port = url.tls ? 443 : 80;
  if (UrlProblem p = read_port(authority.port, use, &url.port); p != UrlProblem::kNone) {
    return refused(p);
  }
  url.host = std::string(authority.host);
  url.ipv6 = use == UrlUse::kObject ? url.host.find(':') != std::string::npos : authority.bracketed;
  if (use == UrlUse::kProxy) return {std::move(url), UrlProblem::kNone};
  std::string_view target =
      authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (use == UrlUse::kObject) {
    target = target.substr(0, target.find('#'));
    // "https://host" and "https://host/" name no object.
    if (target.empty() || target.front() != '/' || target == "/") {
      return refused(UrlProblem::kNoObjectPath);
    }
  }
  url.target = std::string(target);
  return {std::move(url), UrlProblem::kNone};
}

std::string_view HttpUrl::path() const {
  return std::string_view(target).substr(0, target.find('?'));
}

std::string_view HttpUrl::query() const {
  const size_t question = target.find('?');
  return question == std::string::npos ? std::string_view()
                                       : std::string_view(target).substr(question + 1);
}

std::string HttpUrl::request_target() const {
  std::string out = path().empty() ? std::string("/") : std::string(path());
  if (!query().empty()) out += "?" + std::string(query());
  return out;
}

std::string HttpUrl::host_header() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

std::string HttpUrl::origin() const {
  std::string h = ipv6 ? "[" + host + "]" : host;
  return std::string(scheme()) + "://" + h + ":" + std::to_string(port);
}

std::string HttpUrl::redacted() const {
  std::string shown(path());
  if (shown.size() != target.size()) shown += "?…";
  return std::string(scheme()) + "://" + host_header() + shown;
}

std::optional<HttpUrl> resolve_location(const HttpUrl& base, std::string_view location) {
  if (location.empty() || has_forbidden_url_bytes(location)) return std::nullopt;
  location = location.substr(0, location.find('#'));
  if (location.empty()) return std::nullopt;
  if (starts_with_ci(location, "http://") || starts_with_ci(location, "https://")) {
    return parse_http_url(location, UrlUse::kObject).url;
  }
  if (location.substr(0, 2) == "//") {
    return parse_http_url(std::string(base.scheme()) + ":" + std::string(location), UrlUse::kObject)
        .url;
  }
  HttpUrl out = base;
  if (location.front() == '/') {
    out.target = std::string(location);
  } else {
    std::string dir(base.path());
    dir = dir.substr(0, dir.rfind('/') + 1);
    out.target = dir + std::string(location);
  }
  return out;
}

}  // namespace mmapurl::source
