// Watching an idle keep-alive connection for its server's close. A server closes a kept
// connection when its own keep-alive timeout ends (nginx's keepalive_timeout can be 1 s), and a
// request written onto it fails: a failed attempt and a retry. The close reaches our socket first
// (a FIN, a reset, a TLS close_notify), so while a connection is idle a receive waits on it
// (HttpConnection::watch_idle), and a connection it finds closed is closed and its pool forgets
// it. The receives go through Asio, hence io_uring, as all the engine's network I/O does: no
// poll(2) or recv(2) of our own, and no system call per exchange.
//
// The watch is a one-byte receive with MSG_PEEK (socket_base::message_peek) on the TCP socket,
// which consumes nothing. On TLS the bytes it finds may be records a server sends an idle client
// unasked (TLS 1.3 NewSessionTickets right after the handshake, a KeyUpdate): the TLS stream then
// takes them in (TlsStream::async_take_unasked: one receive of what has arrived, no waiting) and
// the peek starts again. Left in the socket, they would hide whatever follows from every later
// peek, and that is how a TLS 1.3 close_notify arrives (an encrypted record that looks like
// application data, then the FIN), and how a connection opened ahead waits (its tickets unread).
//
// No operation of the watch is ever cancelled: Boost 1.81's io_uring backend submits a
// cancellation without setting its user_data, so the cancellation's completion lands on whatever
// operation last used that submission slot (a userfaultfd read then ended with "End of file" and
// the faulting thread never woke). Taking the connection for an exchange leaves a peek in flight:
// it completes, unjudged, with the answer's first byte, and the exchange's own receives queue
// behind it. A take-in completes at once (its bytes are there); the request waits for it. A socket
// with a watch's receive in flight is shut down (shutdown(2) completes the receive) and closed
// only once nothing is in flight on it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmapurl::net {

// What to do after one of the watch's receives completed.
enum class IdleVerdict {
  kNothing,  // cancelled (the socket is being closed by us): nothing was seen
  kClosed,   // the server has closed the connection or is closing it: close it, forget it
  kTakeIn,   // TLS: records are waiting that the stream must take in; then watch again
  kWatch,    // TLS: all taken in, nothing for us: watch again
};

// How the peek completed.
struct IdlePeek {
  bool cancelled = false;  // operation_aborted
  bool failed = false;     // any other error: end of stream, a reset
  size_t bytes = 0;        // 1 when a byte is waiting
  uint8_t first_byte = 0;  // when bytes is 1
};

// - Cancelled: kNothing.
// - End of stream (a FIN, even behind unread bytes: a peek sees it once they are taken in), a
//   reset, any other error: kClosed.
// - No error and no byte (which Asio reports as end of stream on a TCP socket anyway): kClosed;
//   a peek started again on the same state would complete again at once, for ever.
// - Plain HTTP, a byte: kClosed. An HTTP/1.1 server sends nothing unasked, so it would be taken
//   as the next response (a late 408 before a close, say).
// - TLS, an alert record (content type 21: TLS 1.2's close_notify or a fatal alert): kClosed.
// - TLS, any other record: kTakeIn. In TLS 1.3 every record says application data (23), so only
//   the stream can tell a ticket from a close_notify or unasked data.
IdleVerdict judge_idle_peek(const IdlePeek& peek, bool tls);

// How TlsStream::async_take_unasked completed.
struct IdleTakeIn {
  bool cancelled = false;  // operation_aborted
  bool failed = false;     // a close_notify (end of stream), an alert, a bad record, a FIN
  size_t bytes = 0;        // application data
};

// Cancelled: kNothing. An error: kClosed. Application data: kClosed (unasked, as on plain HTTP).
// Nothing else (tickets, a KeyUpdate, part of a record): kWatch; the bytes that completed the peek
// were consumed, so the next peek waits for new ones.
IdleVerdict judge_idle_take_in(const IdleTakeIn& take_in);

}  // namespace mmapurl::net
