// Proxy variables: parsing a proxy URL and choosing the proxy for a URL.
#include "source/http/proxy_environment.hpp"

#include <charconv>

#include "source/http/http_url.hpp"
#include "source/http/no_proxy.hpp"

namespace mmapurl::source {
namespace {

constexpr std::string_view kNoFallback = " (unset it, or list the host in NO_PROXY)";

ProxyChoice refused(std::string_view variable, std::string_view why) {
  ProxyChoice c;
  c.error = std::string(variable) + " " + std::string(why) + std::string(kNoFallback);
  return c;
}

// RFC 3986's scheme: a letter, then letters, digits, "+", "-", ".". Only such a scheme is
// echoed in a message; anything else may be part of a password.
bool is_scheme(std::string_view s) {
  if (s.empty() || s.size() > 16) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s.front())) return false;
  for (char c : s) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

ProxyChoice parse_proxy_url(std::string_view value, std::string_view variable) {
  const std::string_view unparsable =
      "is not a proxy URL the engine can read (expected http://host:port)";
  if (value.empty() || has_forbidden_url_bytes(value)) return refused(variable, unparsable);
  std::string_view rest = value;
  if (const size_t sep = value.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = value.substr(0, sep);
    if (!is_scheme(scheme)) return refused(variable, unparsable);
    const std::string name = lower(scheme);
    if (name == "https") {
      return refused(variable, "names an https:// proxy, and only http:// proxies are supported");
    }
    if (name != "http") {
      return refused(variable,
                     "names a " + name + ":// proxy, and only http:// proxies are supported");
    }
    rest = value.substr(sep + 3);
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return refused(variable,
                   "holds credentials (user:password@), and proxy authentication is not supported");
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return refused(variable, unparsable);
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refused(variable, unparsable);
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return refused(variable, unparsable);
  ProxyChoice c;
  c.host = std::string(host);
  c.port = 80;
  if (port) {
    unsigned n = 0;
    auto [ptr, ec] = std::from_chars(port->data(), port->data() + port->size(), n);
    if (port->empty() || ec != std::errc() || ptr != port->data() + port->size() || n == 0 ||
        n > 65535) {
      return refused(variable, unparsable);
    }
    c.port = static_cast<uint16_t>(n);
  }
  return c;
}

ProxyChoice choose_proxy(bool tls, std::string_view host, uint16_t port,
                         const ProxyEnvLookup& env) {
  struct Variable {
    const char* name;
    std::string value;
  };
  auto get = [&](std::initializer_list<const char*> names) -> std::optional<Variable> {
    for (const char* name : names) {
      if (auto v = env(name); v && !v->empty()) return Variable{name, std::move(*v)};
    }
    return std::nullopt;
  };
  if (auto no_proxy = get({"no_proxy", "NO_PROXY"});
      no_proxy && no_proxy_matches(no_proxy->value, host, port)) {
    return {};
  }
  auto proxy = tls ? get({"https_proxy", "HTTPS_PROXY"}) : get({"http_proxy"});
  if (!proxy) return {};
  return parse_proxy_url(proxy->value, proxy->name);
}

}  // namespace mmapurl::source
