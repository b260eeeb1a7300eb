// ConnectionPool implementation: two queues and a fixed set of connection slots.
#include "net/connection_pool.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "control/open_ahead.hpp"

namespace mmapurl::net {

namespace {
// How long after a thread waited on this origin one connection stays free of readahead. A random
// reader faults again within it; a scan's own first demand fault holds the connection only
// briefly (500 ms idled one of 16 connections for most of a 256 MiB scan over the S3-like link:
// 430 against 448 MB/s with 150 ms).
constexpr auto kDemandReserve = std::chrono::milliseconds(150);
}  // namespace

ConnectionPool::ConnectionPool(boost::asio::io_context& io, boost::asio::ssl::context& tls,
                               Origin origin, TransportSettings settings, uint32_t max_connections)
    : io_(io),
      tls_(tls),
      origin_(std::move(origin)),
      settings_(settings),
      max_connections_(std::max<uint32_t>(1, max_connections)),
      idle_timer_(io) {}

ConnectionPool::~ConnectionPool() { *alive_ = false; }

void ConnectionPool::submit(std::shared_ptr<Exchange> exchange) {
  const bool readahead = !exchange->urgent;
  (exchange->urgent ? urgent_ : normal_).push_back(std::move(exchange));
  dispatch();
  if (readahead) open_ahead();
}

void ConnectionPool::open_ahead() {
  if (!control::origin_shown_far(answers_, fastest_header_us_)) return;
  const uint32_t more = control::connections_to_open_ahead(
      busy_, queued(), prefetch_limit(std::chrono::steady_clock::now()), slots_.size());
  for (uint32_t i = 0; i < more && slots_.size() < max_connections_; ++i) open_one_ahead();
}

void ConnectionPool::hold_ready(uint32_t count) {
  ++ready_holders_;
  ready_ = count;
  open_ready();
}

void ConnectionPool::release_ready() {
  if (ready_holders_ > 0 && --ready_holders_ == 0) ready_ = 0;
  dispatch();  // background work may have waited for a connection it may now take
}

// Idle and opening connections are the slots not running an exchange.
void ConnectionPool::open_ready() {
  while (slots_.size() < max_connections_ && slots_.size() < size_t{busy_} + ready_) {
    open_one_ahead();
  }
}

void ConnectionPool::open_one_ahead() {
  HttpConnection* conn = add_slot();
  ++opening_;
  conn->connect_ahead([this, alive = alive_, conn](bool, uint64_t) {
    if (!*alive) return;
    --opening_;
    mark_idle(conn);
    dispatch();
  });
}

HttpConnection* ConnectionPool::add_slot() {
  slots_.push_back({std::make_unique<HttpConnection>(io_, tls_, origin_, settings_),
                    std::chrono::steady_clock::now()});
  HttpConnection* conn = slots_.back().conn.get();
  conn->on_closed_by_peer([this, alive = alive_, conn] {
    if (*alive) forget_closed(conn);
  });
  return conn;
}

// Idle connections are watched only once dispatch() is done with them: a connection that
// finishes an exchange and takes the next queued one at once (a busy origin, every time) starts
// no receive for nothing.
void ConnectionPool::watch_idle_connections() {
  for (auto& slot : slots_) slot.conn->watch_idle();
}

void ConnectionPool::forget_closed(const HttpConnection* conn) {
  std::erase_if(slots_, [conn](const Slot& slot) { return slot.conn.get() == conn; });
  // An exchange waiting for room at the limit may open a connection now. Not open_ready(): a
  // server that closes every connection as soon as it is idle would have the connections kept
  // ready reopened and closed in a loop; the next dispatch reopens them.
  run_queued();
}

void ConnectionPool::mark_idle(const HttpConnection* conn) {
  for (auto& slot : slots_) {
    if (slot.conn.get() == conn) slot.idle_since = std::chrono::steady_clock::now();
  }
  arm_idle_timer();
}

void ConnectionPool::arm_idle_timer() {
  if (idle_timer_armed_) return;
  std::chrono::steady_clock::time_point earliest = std::chrono::steady_clock::time_point::max();
  for (const auto& slot : slots_) {
    if (!slot.conn->busy()) earliest = std::min(earliest, slot.idle_since);
  }
  if (earliest == std::chrono::steady_clock::time_point::max()) return;
  idle_timer_armed_ = true;
  idle_timer_.expires_at(earliest + kIdleConnectionTimeout);
  idle_timer_.async_wait([this, alive = alive_](boost::system::error_code) {
    if (!*alive) return;
    idle_timer_armed_ = false;
    close_idle_connections();
  });
}

void ConnectionPool::close_idle_connections() {
  const auto now = std::chrono::steady_clock::now();
  size_t idle = 0;
  for (const auto& slot : slots_) idle += slot.conn->busy() ? 0 : 1;
  // The connections hold_ready keeps are idle on purpose; the oldest beyond them go.
  size_t may_close = idle > ready_ ? idle - ready_ : 0;
  std::erase_if(slots_, [&](const Slot& slot) {
    if (may_close == 0 || slot.conn->busy() || now - slot.idle_since < kIdleConnectionTimeout) {
      return false;
    }
    --may_close;
    return true;  // ~HttpConnection closes the socket
  });
  arm_idle_timer();
}

void ConnectionPool::promote(const std::shared_ptr<Exchange>& exchange) {
  auto it = std::find(normal_.begin(), normal_.end(), exchange);
  if (it == normal_.end()) return;
  normal_.erase(it);
  exchange->urgent = true;
  urgent_.push_back(exchange);
  dispatch();
}

bool ConnectionPool::withdraw(const std::shared_ptr<Exchange>& exchange) {
  for (auto* queue : {&urgent_, &normal_}) {
    auto it = std::find(queue->begin(), queue->end(), exchange);
    if (it != queue->end()) {
      queue->erase(it);
      return true;
    }
  }
  return false;
}

// Prefetch may use every connection, but all but one while a thread waited on this origin
// lately (kDemandReserve). A sequential scan's faults land on pages already in flight, so it keeps
// all of them busy (a reserved one idles an eighth of the bandwidth at high latency); random
// readers keep theirs. Until answers show a far origin, a few (control/open_ahead.hpp says why).
// Threads waiting on pages still get every connection.
uint32_t ConnectionPool::prefetch_limit(std::chrono::steady_clock::time_point now) const {
  return control::readahead_connection_limit(max_connections_, now - last_urgent_ < kDemandReserve,
                                             answers_, fastest_header_us_);
}

void ConnectionPool::dispatch() {
  run_queued();
  open_ready();
  watch_idle_connections();
}

void ConnectionPool::run_queued() {
  auto now = std::chrono::steady_clock::now();
  while (!urgent_.empty() || (!normal_.empty() && busy_ < prefetch_limit(now))) {
    if (busy_ >= max_connections_) return;
    HttpConnection* idle = nullptr;
    size_t idle_count = 0;
    for (const auto& slot : slots_) {
      if (slot.conn->busy()) continue;
      if (!idle) idle = slot.conn.get();
      ++idle_count;
    }
    // The connections kept ready wait for faults: background work opens its own while there is
    // room, and at the limit waits for one opened ahead rather than take one already connected.
    if (idle && urgent_.empty() && idle_count <= ready_) {
      if (slots_.size() < max_connections_) {
        idle = add_slot();
      } else if (opening_ > 0) {
        return;
      }
    } else if (!idle) {
      // A connection being opened ahead is ready sooner than a new one would be.
      if (opening_ >= queued() || slots_.size() >= max_connections_) return;
      idle = add_slot();
    }
    if (!urgent_.empty()) last_urgent_ = now;
    auto& queue = urgent_.empty() ? normal_ : urgent_;
    auto exchange = std::move(queue.front());
    queue.pop_front();
    ++busy_;
    idle->run(std::move(exchange), [this, alive = alive_, idle](bool, uint64_t header_us) {
      if (!*alive) return;
      mark_idle(idle);
      // Every answer tells how near the origin is.
      if (header_us != 0) {
        const bool was_far = control::origin_shown_far(answers_, fastest_header_us_);
        fastest_header_us_ = std::min(fastest_header_us_, header_us);
        ++answers_;
        if (!was_far && control::origin_shown_far(answers_, fastest_header_us_)) {
          MMAPURL_LOG(base::LogLevel::kDebug,
                      origin_.key() + " is far: the quickest of " + std::to_string(answers_) +
                          " answers took " + std::to_string(fastest_header_us_) +
                          " us, readahead may use " + std::to_string(max_connections_) +
                          " connections");
        }
      }
      --busy_;
      dispatch();
    });
  }
}

}  // namespace mmapurl::net
