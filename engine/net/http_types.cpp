// Small helpers of the HTTP client's shapes.
#include "net/http_types.hpp"

#include <algorithm>

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

BodySpan next_body_span(const BodyTarget& target, uint64_t received, uint64_t consumed, uint64_t max) {
  uint64_t n = std::min(target.size - std::min(received, target.size), max);
  if (target.ring_bytes == 0) return {target.data + received, n};
  const uint64_t pos = (target.ring_start + received) % target.ring_bytes;
  const uint64_t ahead = received - std::min(consumed, received);
  const uint64_t room = ahead < target.ring_bytes ? target.ring_bytes - ahead : 0;
  n = std::min({n, target.ring_bytes - pos, room});
  return {target.data + pos, n};
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
