// Origin: where connections go (scheme, host, port) and the transport settings they share.
#pragma once

#include <cstdint>
#include <string>

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace mmapurl::net {

struct Origin {
  bool tls = false;
  std::string host;  // name for SNI and certificate checks (IPv6 literal without brackets)
  uint16_t port = 0;
  // Plain-HTTP proxy to send absolute-form requests to, or CONNECT through for TLS ("" = none).
  std::string proxy_host;
  uint16_t proxy_port = 0;
  // host:port as a request target or Host header has it: an IPv6 literal in brackets.
  std::string authority() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  std::string key() const { return (tls ? "https://" : "http://") + authority(); }
};

struct TransportSettings {
  double io_timeout_s = 10;  // no progress for this long fails the exchange
};

}  // namespace mmapurl::net
