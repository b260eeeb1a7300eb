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
  // response header read (about one round trip plus the server's time; 0 when none came). On a
  // watched connection (watch_idle) the watch stops mattering: the request goes out at once
  // beside its peek, or once a TLS take-in has completed, and should that take-in find the
  // server's close, a new connection carries the exchange.
  using DoneHandler = std::function<void(bool reusable, uint64_t header_us)>;
  void run(std::shared_ptr<Exchange> exchange, DoneHandler done);
  // Connects (TCP, proxy tunnel, TLS) with no exchange, so a later run() finds the connection
  // ready; `done` as for run(), with header_us 0. The connection is busy() meanwhile.
  void connect_ahead(DoneHandler done);
  // Closes the socket; a running exchange completes with kCancelled.
  void close();
  bool busy() const;
  // While the connection is idle and connected, until the next run() or close(): watches for
  // the server closing it (or sending anything unasked) with one receive through Asio, so
  // io_uring (net/idle_socket.hpp). When that comes, the connection is closed and the
  // on_closed_by_peer handler runs, from the io_context. Nothing if busy, not connected, or
  // already watched.
  void watch_idle();
  // The handler watch_idle calls; it may destroy this HttpConnection.
  void on_closed_by_peer(std::function<void()> handler);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mmapurl::net
