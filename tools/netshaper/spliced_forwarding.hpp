// Forwarding with splice(2): the kernel moves each direction's bytes socket -> pipe -> socket and
// the proxy copies nothing in user space; the pipe is the link's delay line and queue.
#pragma once

#include <chrono>

#include "netshaper/proxied_connection.hpp"

namespace mmapurl::netshaper {

enum class SplicedEnd {
  kEnded,    // both directions ended with EOF, each passed on as a half-close
  kFailed,   // a side failed: the caller resets both, so the other side sees an RST too
  kStopped,  // the proxy stops
  kNoPipes,  // pipes could not be made: nothing was forwarded, forward some other way
};

// Forwards between the two connected, non-blocking sockets until one of the ends above, shaped as
// `shared.options` says (delay each way, per-direction cap, the handshake's RTT counted from
// `accepted_at`); faults are not applied. Bytes wait in a pipe of at most a few MiB, so a delayed
// link without a cap carries at most about that much per delay. `wake_fd` (an eventfd) interrupts
// the wait to look at the stop flag. Counts delivered bytes in `shared`. Closes neither socket:
// the caller owns them.
SplicedEnd forward_spliced(int client_fd, int server_fd, int wake_fd, ProxyShared& shared,
                           std::chrono::steady_clock::time_point accepted_at);

}  // namespace mmapurl::netshaper
