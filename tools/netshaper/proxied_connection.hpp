// ProxiedConnection: one client connection and its upstream twin, forwarded by one thread's poll
// loop through a delay queue and a token bucket per direction, with the proxy's faults applied.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "netshaper/fault_board.hpp"
#include "netshaper/shaping_proxy.hpp"
#include "netshaper/socket_ops.hpp"
#include "netshaper/timed_byte_queue.hpp"
#include "netshaper/token_bucket.hpp"

namespace mmapurl::netshaper {

// What every connection of one proxy shares; owned by the proxy, outlives its connections.
struct ProxyShared {
  ShaperOptions options;
  std::vector<SocketAddress> targets;
  FaultBoard faults;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
};

class ProxiedConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes ownership of client_fd (non-blocking, accepted by the proxy).
  ProxiedConnection(int client_fd, ProxyShared& shared);
  ~ProxiedConnection();
  ProxiedConnection(const ProxiedConnection&) = delete;
  ProxiedConnection& operator=(const ProxiedConnection&) = delete;

  // Connects upstream and forwards until both sides are done, a fault ends it, or the proxy
  // stops. Runs on the connection's own thread.
  void run();
  // Makes run() look at the stop flag and the fault board again. Any thread.
  void wake();
  bool finished() const { return finished_.load(std::memory_order_acquire); }

 private:
  enum class Side { kClient = 0, kServer = 1 };
  struct Direction {
    Direction(Side from, Side to, Clock::duration one_way_delay, double bytes_per_second,
              size_t queue_limit_bytes, Clock::time_point now, std::atomic<uint64_t>* total_counter)
        : src(from),
          dst(to),
          delay(one_way_delay),
          queue_limit(queue_limit_bytes),
          bucket(bytes_per_second, now),
          total(total_counter) {}
    Side src;
    Side dst;
    Clock::duration delay;
    size_t queue_limit;  // bytes buffered before reading stops (see queue_limit_for)
    TimedByteQueue queue;
    TokenBucket bucket;
    std::vector<char> scratch;
    std::atomic<uint64_t>* total;
    uint64_t delivered = 0;
    bool src_done = false;        // EOF or error read from src: nothing more to read
    bool src_reset = false;       // ...and it was an error: the end is delivered as an RST
    Clock::time_point end_due{};  // when that end reaches dst
    bool end_delivered = false;   // shutdown(dst, SHUT_WR) done
    bool dst_dead = false;        // dst failed: what flows towards it is dropped
    bool write_blocked = false;   // dst's send buffer is full: wait for POLLOUT
    size_t paced_wanted = 0;      // what the token bucket last refused: sizes the wait for it
  };
  enum class Outcome { kContinue, kDone };

  int fd(Side s) const { return fds_[static_cast<int>(s)]; }
  bool wants_read(const Direction& d) const;
  void read_from(Direction& d, Clock::time_point now);
  bool read_once(Direction& d, Clock::time_point now);  // true: read a full buffer
  void write_due(Direction& d, Clock::time_point now);
  void on_side_failed(Side s, Clock::time_point now);
  Outcome sync_fault(Clock::time_point now);
  Outcome act_on_fault();
  Clock::time_point next_wakeup(const Direction& d, Clock::time_point now) const;
  void drain_wake_fd();
  void wait_while_stalled();
  void close_cleanly_after_truncation();
  void close_both();
  void reset_both();

  ProxyShared& shared_;
  int fds_[2];
  int wake_fd_;
  Clock::time_point accepted_at_;
  Direction up_;
  Direction down_;
  std::atomic<bool> finished_{false};

  // The fault as this connection sees it.
  uint64_t fault_generation_ = 0;
  TcpFault fault_ = TcpFault::kNone;
  uint64_t fault_limit_ = 0;  // down_.delivered at which a byte fault fires
  bool stalled_ = false;
};

}  // namespace mmapurl::netshaper
