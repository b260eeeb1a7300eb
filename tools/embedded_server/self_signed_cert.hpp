// A throw-away TLS identity for loopback servers: EC P-256 key and self-signed X.509 certificate,
// made in memory; clients trust it by pointing SSL_CERT_FILE (or --cacert) at cert_pem.
#pragma once

#include <optional>
#include <string>

namespace mmapurl::testserver {

struct SelfSignedCert {
  std::string cert_pem;
  std::string key_pem;
};

// SAN: IP:127.0.0.1, IP:::1, DNS:localhost, and IP:`extra_ip` when given (a server listening on
// another loopback address); valid for one day. nullopt if OpenSSL fails.
std::optional<SelfSignedCert> make_self_signed_cert(const std::string& extra_ip = "");

}  // namespace mmapurl::testserver
