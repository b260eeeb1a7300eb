// The request and response shapes of the HTTP client, free of Asio and Beast so the source
// layer and the tests can use them without heavy headers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmapurl::net {

struct HttpHeader {
  std::string name;  // lower case in responses
  std::string value;
};

struct RequestSpec {
  std::string method = "GET";
  std::string target;       // sent byte for byte
  std::string host_header;
  std::vector<HttpHeader> headers;
};

struct ResponseHead {
  unsigned status = 0;
  bool keep_alive = true;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  std::vector<HttpHeader> headers;
  const std::string* find(std::string_view lower_name) const;
  // A Content-Encoding other than identity: the bytes are not the object's.
  bool content_encoding_set() const;
};

enum class NetError : uint8_t {
  kNone,
  kConnect,     // refused, unreachable, name not resolved
  kTls,         // handshake failed
  kTlsVerify,   // certificate not trusted or wrong name: permanent
  kTimeout,     // no progress within the I/O timeout
  kClosed,      // reset or closed before the response was complete
  kProtocol,    // malformed response, or the consumer refused its header
  kCancelled,
};

const char* net_error_name(NetError e);

struct ExchangeResult {
  NetError error = NetError::kNone;
  std::string message;
  ResponseHead head;
  std::string small_body;  // the body of a response the consumer did not take (≤ 64 KiB)
  uint64_t body_bytes = 0;  // bytes written into the consumer's buffer
};

// Where a body goes: the consumer's buffer, exactly `size` bytes long.
struct BodyTarget {
  uint8_t* data = nullptr;
  uint64_t size = 0;
};

// One request/response on a pooled connection. The callbacks run on the engine thread.
struct Exchange {
  RequestSpec request;
  // Sees the header; returns the buffer for a 2xx body, or nothing to have the body kept in
  // `small_body` (error answers). Setting *reject refuses the response (connection closed).
  std::function<std::optional<BodyTarget>(const ResponseHead&, std::string* reject)> on_head;
  std::function<void(uint64_t received)> on_progress;  // may be empty
  std::function<void(ExchangeResult&&)> on_complete;
  bool urgent = false;  // a thread waits for it: ahead of prefetch in the queue
};

}  // namespace mmapurl::net
