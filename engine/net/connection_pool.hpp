// ConnectionPool: the keep-alive connections to one origin and the queue of exchanges waiting
// for them. Urgent exchanges (a thread waits) go first, and while threads have been waiting on
// this origin lately one connection is kept free of prefetch, so a demand fault never queues
// behind a long readahead. Readahead from a far origin also opens connections for the next window
// before its parts need them (control/open_ahead.hpp); demand never does. A connection idle for
// kIdleConnectionTimeout is closed and forgotten (ahead of servers that close idle ones first), so
// an origin nobody uses any more holds no descriptor and no TLS state. One its server closes
// sooner is seen while idle (HttpConnection::watch_idle) and dropped; another carries the next
// exchange, which never fails for it.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "net/http_connection.hpp"

namespace mmapurl::net {

class ConnectionPool {
 public:
  ConnectionPool(boost::asio::io_context& io, boost::asio::ssl::context& tls, Origin origin,
                 TransportSettings settings, uint32_t max_connections);
  ~ConnectionPool();

  void submit(std::shared_ptr<Exchange> exchange);
  // Moves a queued exchange to the urgent queue (a thread now waits for it).
  void promote(const std::shared_ptr<Exchange>& exchange);
  // Drops an exchange that has not started; false if it is running or unknown.
  bool withdraw(const std::shared_ptr<Exchange>& exchange);
  // While someone holds it (hold_ready, until release_ready), keeps `count` connections connected
  // and idle beside those running exchanges (as many as the limit leaves room for); background
  // exchanges do not take them. While a background download holds most connections, a thread's
  // fault then finds one ready instead of paying the TCP and TLS handshakes first: three round
  // trips far away (two S3-like faults took 75 and 122 ms instead of 21). Each downloading
  // mapping of the origin holds it once: the first to finish does not release it for the others.
  void hold_ready(uint32_t count);
  void release_ready();

  const Origin& origin() const { return origin_; }
  uint32_t busy() const { return busy_; }
  size_t queued() const { return urgent_.size() + normal_.size(); }
  size_t connections() const { return slots_.size(); }
  // Nothing running, queued, being opened or held ready: the pool may be dropped.
  bool idle() const { return busy_ == 0 && queued() == 0 && opening_ == 0 && ready_holders_ == 0; }

  // Shorter than the keep-alive timeouts of common servers (Apache's 5 s is the shortest; nginx
  // 75 s, S3 about 20 s): the engine closes a connection before its server does, so a request
  // rarely meets a connection the server has just closed (a failed attempt and a retry). A busy
  // origin keeps its connections: the clock starts when a connection goes idle.
  static constexpr std::chrono::milliseconds kIdleConnectionTimeout{4000};

 private:
  void dispatch();  // runs what is queued, keeps the ready connections, watches the idle ones
  void run_queued();
  void open_ahead();
  void open_ready();
  void open_one_ahead();
  HttpConnection* add_slot();
  void watch_idle_connections();
  void forget_closed(const HttpConnection* conn);  // the server closed it while idle
  void mark_idle(const HttpConnection* conn);
  // Closes what has been idle for kIdleConnectionTimeout (beyond the connections kept ready), and
  // waits for the next one to be while any connection is idle: an idle pool sets no timer.
  void close_idle_connections();
  void arm_idle_timer();
  uint32_t prefetch_limit(std::chrono::steady_clock::time_point now) const;
  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  Origin origin_;
  TransportSettings settings_;
  uint32_t max_connections_;
  uint32_t busy_ = 0;                        // connections running an exchange
  uint32_t opening_ = 0;                     // connections opened ahead, not yet ready
  uint32_t ready_ = 0;                       // idle connections to keep beside the busy ones
  uint32_t ready_holders_ = 0;               // while 0, ready_ is 0
  uint64_t fastest_header_us_ = UINT64_MAX;  // the quickest answer yet: about one round trip
  uint64_t answers_ = 0;                     // answers with a header so far
  std::chrono::steady_clock::time_point last_urgent_{};
  struct Slot {
    std::unique_ptr<HttpConnection> conn;
    std::chrono::steady_clock::time_point idle_since;  // when it last finished (or was made)
  };
  std::vector<Slot> slots_;
  boost::asio::steady_timer idle_timer_;
  bool idle_timer_armed_ = false;
  std::deque<std::shared_ptr<Exchange>> urgent_;
  std::deque<std::shared_ptr<Exchange>> normal_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mmapurl::net
