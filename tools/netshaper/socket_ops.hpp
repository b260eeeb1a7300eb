// Small POSIX socket helpers for the shaper: resolve, listen, non-blocking connect, and the two
// ways to end a TCP connection (clean FIN and RST).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace mmapurl::netshaper {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// All addresses for host:port (TCP). Empty with *error set on failure.
std::vector<SocketAddress> resolve_tcp(const std::string& host, uint16_t port, bool passive,
                                       std::string* error);
// A listening, close-on-exec socket bound to the first usable address; -1 with *error on failure.
int listen_tcp(const std::vector<SocketAddress>& addresses, std::string* error);
uint16_t local_port(int fd);

bool set_nonblocking(int fd);
void set_nodelay(int fd);
// Connects a non-blocking socket to the first reachable address, giving up after timeout_ms or
// as soon as `abort_fd` becomes readable. -1 on failure.
int connect_tcp(const std::vector<SocketAddress>& addresses, int abort_fd, int timeout_ms);
// close() after SO_LINGER {1, 0}: the peer gets an RST instead of a FIN.
void close_with_reset(int fd);
// Reads and discards whatever is readable now; false once the peer's EOF or an error is seen.
bool discard_input(int fd);
// ppoll until `deadline` (time_point::max(): up to a second, a cap that only bounds the damage if
// a wake-up through an eventfd is ever lost); on EINTR every revents is 0.
void poll_until(pollfd* fds, nfds_t n, std::chrono::steady_clock::time_point deadline);

}  // namespace mmapurl::netshaper
