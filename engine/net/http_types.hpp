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

// Where a body of `size` bytes goes. Linear (ring_bytes == 0): the `size` bytes at `data`. A
// ring: body byte i lands at data[(ring_start + i) % ring_bytes], and the writer never runs more
// than ring_bytes ahead of what the consumer says it is done with, so a part of many MiB needs a
// staging buffer of a few hundred KiB that stays in cache and is never page-faulted afresh.
struct BodyTarget {
  uint8_t* data = nullptr;
  uint64_t size = 0;
  uint64_t ring_bytes = 0;
  uint64_t ring_start = 0;
};

// Where the next body bytes go: at most `max` contiguous bytes after `received`, never over bytes
// past `consumed` the consumer still needs. An empty span on a ring means the consumer is behind.
struct BodySpan {
  uint8_t* data = nullptr;
  uint64_t len = 0;
};
BodySpan next_body_span(const BodyTarget& target, uint64_t received, uint64_t consumed, uint64_t max);

// One request/response on a pooled connection. The callbacks run on the engine thread.
struct Exchange {
  RequestSpec request;
  // Sees the header; returns the buffer for a 2xx body, or nothing to have the body kept in
  // `small_body` (error answers). Setting *reject refuses the response (connection closed).
  std::function<std::optional<BodyTarget>(const ResponseHead&, std::string* reject)> on_head;
  // Sees the body bytes received so far; returns how many of them the consumer is done with
  // (what a ring target may overwrite). May be empty: then every received byte counts as used.
  std::function<uint64_t(uint64_t received)> on_progress;
  std::function<void(ExchangeResult&&)> on_complete;
  bool urgent = false;  // a thread waits for it: ahead of prefetch in the queue
};

}  // namespace mmapurl::net
