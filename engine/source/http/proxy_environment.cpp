// Proxy variables: parsing a proxy URL and choosing the proxy for a URL.
#include "source/http/proxy_environment.hpp"

#include "source/http/no_proxy.hpp"
#include "source/url/http_url.hpp"

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
  // Only the authority counts (any path is ignored): parsed as an http:// URL's.
  const UrlParse parse = parse_http_url("http://" + std::string(rest), UrlUse::kProxy);
  if (parse.problem == UrlProblem::kUserInfo) {
    return refused(variable,
                   "holds credentials (user:password@), and proxy authentication is not supported");
  }
  if (!parse.url) return refused(variable, unparsable);
  ProxyChoice c;
  c.host = parse.url->host;
  c.port = parse.url->port;
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
