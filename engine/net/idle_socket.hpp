// Whether an idle keep-alive connection may carry the next request. A server closes a kept
// connection when its own keep-alive timeout ends (nginx's keepalive_timeout can be 1 s), and a
// request written onto it fails: a failed attempt and a retry. Its close is already in our
// socket by then (a FIN, a reset, a TLS close_notify), so one look at the socket that neither
// blocks nor consumes anything tells, before the connection is handed to an exchange.
#pragma once

#include <cstdint>

namespace mmapurl::net {

// What one look at an idle socket saw.
struct IdleSocketLook {
  // revents of poll(2) for POLLIN | POLLRDHUP with a zero timeout (POLLERR when poll failed).
  short poll_events = 0;
  // When POLLIN: recv(MSG_PEEK | MSG_DONTWAIT) of one byte: 1, 0 at end of stream, -1 on error.
  long peeked = 0;
  int peek_errno = 0;      // when peeked is -1
  uint8_t first_byte = 0;  // when peeked is 1
};

// True when the peer has closed the connection or is closing it, so it must not carry another
// request:
// - a FIN (POLLRDHUP, or a peek at end of stream), even behind unread bytes: an HTTP server
//   sends it only when it closes the connection;
// - a reset or any socket error (POLLERR, POLLHUP, a peek failing other than EAGAIN);
// - on TLS, a pending record that is an alert (content type 21): TLS 1.2's close_notify or a
//   fatal alert. A TLS 1.3 alert looks like application data (type 23) and is caught by the FIN
//   that follows it; other records (a TLS 1.3 NewSessionTicket) are left for the next read;
// - on plain HTTP, any pending byte: an HTTP/1.1 server sends nothing unasked, so it would be
//   taken as the next response (a late 408 before a close, say).
bool peer_closed_idle_socket(const IdleSocketLook& look, bool tls);

// Looks at connected socket `fd` without blocking and without consuming a byte.
IdleSocketLook look_at_idle_socket(int fd);

inline bool idle_socket_closed_by_peer(int fd, bool tls) {
  return peer_closed_idle_socket(look_at_idle_socket(fd), tls);
}

}  // namespace mmapurl::net
