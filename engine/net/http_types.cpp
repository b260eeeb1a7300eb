// Small helpers of the HTTP client's shapes.
#include "net/http_types.hpp"

namespace mmapurl::net {

const std::string* ResponseHead::find(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.name == lower_name) return &h.value;
  }
  return nullptr;
}

bool ResponseHead::content_encoding_set() const {
  const std::string* e = find("content-encoding");
  return e && !e->empty() && *e != "identity";
}

const char* net_error_name(NetError e) {
  switch (e) {
    case NetError::kNone: return "ok";
    case NetError::kConnect: return "connect failed";
    case NetError::kTls: return "TLS handshake failed";
    case NetError::kTlsVerify: return "TLS certificate verification failed";
    case NetError::kTimeout: return "timed out";
    case NetError::kClosed: return "connection closed early";
    case NetError::kProtocol: return "protocol error";
    case NetError::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace mmapurl::net
