// ShapingProxy: a user-space TCP forwarder that adds one-way delays, a per-connection bandwidth
// cap and injected faults (reset, truncation, stall, refusal), since this kernel has no tc netem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace mmapurl::netshaper {

struct ShaperOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0: ephemeral
  std::string target_host = "127.0.0.1";
  uint16_t target_port = 0;
  double delay_ms_up = 0;    // one-way delay client → server
  double delay_ms_down = 0;  // one-way delay server → client (RTT = up + down)
  double conn_mbps = 0;      // per-connection, per-direction cap in megabytes/s (1e6 B/s; 0 = none)
  // The local accept completes at once, so a fresh connection would save the handshake's RTT a
  // real network costs; when true, the client's first bytes are held as if it had waited one RTT.
  bool emulate_handshake_rtt = false;
  // Memory buffered per connection and direction (the bandwidth-delay product) before the proxy
  // stops reading from the sender, which then feels TCP back-pressure. With conn_mbps, less: what
  // the capped link holds over the delay plus 20 ms of queue.
  size_t max_queued_bytes = size_t{64} << 20;
  // Forward with splice(2): no user-space copy, so the proxy takes as little CPU from what it
  // measures as it can. Delay, cap and handshake RTT apply; a direction's bytes wait in a pipe of
  // at most 8 MiB (1 MiB without CAP_SYS_RESOURCE), so a delay without a cap carries at most
  // that much per delay. Faults (set_fault) are not applied to such connections.
  bool splice = false;
};

enum class TcpFault {
  kNone,
  kResetAfterBytes,  // after N bytes server→client on a connection, RST both sides (SO_LINGER 0)
  kCloseAfterBytes,  // after N bytes, FIN (clean close) both sides: a truncated body
  kStallAfterBytes,  // after N bytes, stop forwarding on that connection (until cleared or stop())
  kRefuse,           // "server gone": reset newly accepted connections at once and existing ones
};

// Forwards every connection accepted on listen_host:listen_port to target_host:target_port.
// Thread-safe: set_fault/clear_fault/counters may be called from any thread while running.
class ShapingProxy {
 public:
  explicit ShapingProxy(ShaperOptions opts);
  ~ShapingProxy();  // stop()
  ShapingProxy(const ShapingProxy&) = delete;
  ShapingProxy& operator=(const ShapingProxy&) = delete;

  // Resolves the target, binds and listens, starts the accept thread. False with *error set
  // (when error is non-null) on failure. A proxy starts at most once.
  bool start(std::string* error);
  // Closes the listener and every connection, joins all threads. Idempotent.
  void stop();
  uint16_t port() const;  // the bound port (valid after a successful start)

  // Applies to connections (new and existing) until cleared; `after_bytes` counts bytes delivered
  // server→client per connection from when the fault was set (for new connections: from their
  // start). A byte fault fires when the count reaches `after_bytes` (0: at once). At most
  // `max_connections` connections are faulted (-1: all); later ones forward normally.
  // kRefuse ignores after_bytes and counts each reset or refused connection against the limit.
  void set_fault(TcpFault f, uint64_t after_bytes = 0, int max_connections = -1);
  void clear_fault();

  struct Counters {
    uint64_t connections, bytes_up, bytes_down;
  };
  // connections: accepted in total; bytes_*: delivered to the receiving side in total.
  Counters counters() const;
  // Connections a fault has acted on since start (reset, closed, stalled or refused).
  uint64_t faulted_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmapurl::netshaper
