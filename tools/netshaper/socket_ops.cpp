// Small POSIX socket helpers for the shaper: resolve, listen, non-blocking connect, and the two
// ways to end a TCP connection (clean FIN and RST).
#include "netshaper/socket_ops.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mmapurl::netshaper {

std::vector<SocketAddress> resolve_tcp(const std::string& host, uint16_t port, bool passive,
                                       std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &list);
  std::vector<SocketAddress> out;
  if (rc != 0) {
    if (error) *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return out;
  }
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(list);
  if (out.empty() && error) *error = "no address for " + host;
  return out;
}

int listen_tcp(const std::vector<SocketAddress>& addresses, std::string* error) {
  std::string last = "no address to listen on";
  for (const SocketAddress& a : addresses) {
    const int fd = socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) == 0 &&
        listen(fd, SOMAXCONN) == 0) {
      return fd;
    }
    last = std::string("bind/listen: ") + std::strerror(errno);
    close(fd);
  }
  if (error) *error = last;
  return -1;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

bool set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void set_nodelay(int fd) {
  // The proxy writes whatever is due at once; Nagle would add its own delay on top of ours.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int connect_tcp(const std::vector<SocketAddress>& addresses, int abort_fd, int timeout_ms) {
  for (const SocketAddress& a : addresses) {
    const int fd = socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) == 0) return fd;
    if (errno == EINPROGRESS) {
      pollfd fds[2] = {{fd, POLLOUT, 0}, {abort_fd, POLLIN, 0}};
      int rc;
      do {
        rc = poll(fds, abort_fd >= 0 ? 2 : 1, timeout_ms);
      } while (rc < 0 && errno == EINTR);
      if (rc > 0 && (fds[1].revents & POLLIN) == 0 && (fds[0].revents & (POLLOUT | POLLERR))) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) return fd;
      }
      if (rc > 0 && (fds[1].revents & POLLIN)) {
        close(fd);
        return -1;  // aborted: do not try the other addresses
      }
    }
    close(fd);
  }
  return -1;
}

void close_with_reset(int fd) {
  if (fd < 0) return;
  const linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

bool discard_input(int fd) {
  char sink[64 * 1024];
  for (;;) {
    const ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void poll_until(pollfd* fds, nfds_t n, std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kMaxPollWait = std::chrono::seconds(1);
  const auto now = Clock::now();
  auto wait = deadline == Clock::time_point::max()
                  ? kMaxPollWait
                  : std::min<Clock::duration>(deadline - now, kMaxPollWait);
  if (wait < Clock::duration::zero()) wait = Clock::duration::zero();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  if (ppoll(fds, n, &ts, nullptr) < 0) {
    for (nfds_t i = 0; i < n; ++i) fds[i].revents = 0;  // EINTR: just go round again
  }
}

}  // namespace mmapurl::netshaper
