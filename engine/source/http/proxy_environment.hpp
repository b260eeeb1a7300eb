// ProxyChoice: which proxy a URL goes through, read from the environment as curl reads it, and
// why a proxy the environment names cannot be used. Pure apart from the injected lookup.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::source {

using ProxyEnvLookup = std::function<std::optional<std::string>(const char*)>;

struct ProxyChoice {
  std::string host;  // "" : connect directly
  uint16_t port = 0;
  // Set when the environment names a proxy the engine cannot use: the mapping must fail, never
  // connect directly behind the user's back. Names the variable, never echoes its value (it may
  // hold a password).
  std::string error;
};

// Reads one proxy variable's value (`variable` is its name, for the error): `http://host[:port]`
// or `host[:port]` (http assumed), port 80 by default, any path ignored. Refused: an https://
// proxy, any other scheme (socks5://, ...), credentials (`user:password@`: the engine sends no
// Proxy-Authorization), and anything unparsable.
ProxyChoice parse_proxy_url(std::string_view value, std::string_view variable);

// The proxy for a URL on `host`:`port` (`tls`: https), with curl's variables: https_proxy /
// HTTPS_PROXY for https, only lower-case http_proxy for http (upper-case HTTP_PROXY can be set
// by a CGI request header, "httpoxy"), no_proxy / NO_PROXY (source/http/no_proxy.hpp). The
// lower-case form wins; an empty value is unset. A host NO_PROXY lists goes direct whatever
// the proxy variable holds, as with curl, which never reads it then.
ProxyChoice choose_proxy(bool tls, std::string_view host, uint16_t port, const ProxyEnvLookup& env);

}  // namespace mmapurl::source
