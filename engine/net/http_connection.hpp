// HttpConnection: one keep-alive HTTP/1.1 connection (plain or TLS) running one exchange at a
// time. Beast parses each response header; the body is read straight into the consumer's
// buffer, with no Beast body type in between.
#pragma once

#include <functional>
#include <memory>

#include "net/http_types.hpp"
#include "net/origin.hpp"

namespace mmapurl::net {

class HttpConnection {
 public:
  HttpConnection(boost::asio::io_context& io, boost::asio::ssl::context& tls, const Origin& origin,
                 const TransportSettings& settings);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Runs `exchange`, connecting first if needed. `done` runs after exchange.on_complete, with
  // whether the connection can be reused and the microseconds from the request written to its
  // response header read (about one round trip plus the server's time; 0 when none came).
  using DoneHandler = std::function<void(bool reusable, uint64_t header_us)>;
  void run(std::shared_ptr<Exchange> exchange, DoneHandler done);
  // Connects (TCP, proxy tunnel, TLS) with no exchange, so a later run() finds the connection
  // ready; `done` as for run(), with header_us 0. The connection is busy() meanwhile.
  void connect_ahead(DoneHandler done);
  // Closes the socket; a running exchange completes with kCancelled.
  void close();
  bool busy() const;
  // Idle, connected, and the server has closed the connection or is closing it
  // (net/idle_socket.hpp): it must not carry a request. Neither blocks nor consumes a byte.
  bool closed_by_peer() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mmapurl::net
