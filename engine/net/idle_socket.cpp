// The look at an idle socket (poll, then a one-byte peek) and the rules that judge it.
#include "net/idle_socket.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace mmapurl::net {

namespace {
constexpr uint8_t kTlsAlert = 21;  // TLSPlaintext.type of an alert record
}  // namespace

bool peer_closed_idle_socket(const IdleSocketLook& look, bool tls) {
  if ((look.poll_events & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) != 0) return true;
  if ((look.poll_events & POLLIN) == 0) return false;  // nothing pending: usable
  if (look.peeked == 0) return true;                   // end of stream
  if (look.peeked < 0) return look.peek_errno != EAGAIN && look.peek_errno != EWOULDBLOCK;
  return tls ? look.first_byte == kTlsAlert : true;
}

IdleSocketLook look_at_idle_socket(int fd) {
  IdleSocketLook look;
  pollfd pfd{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  const int ready = ::poll(&pfd, 1, 0);
  if (ready < 0) {
    look.poll_events = POLLERR;
    return look;
  }
  look.poll_events = ready == 0 ? 0 : pfd.revents;
  if ((look.poll_events & POLLIN) == 0) return look;
  uint8_t byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  look.peeked = n;
  if (n < 0) look.peek_errno = errno;
  if (n > 0) look.first_byte = byte;
  return look;
}

}  // namespace mmapurl::net
