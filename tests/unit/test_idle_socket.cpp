// The rules that judge one look at an idle keep-alive socket (net/idle_socket.hpp): a connection
// the server has closed or is closing is dropped before it carries a request; one that is merely
// quiet, or holds a TLS record the next read will handle, is kept.
#include <gtest/gtest.h>
#include <poll.h>

#include <cerrno>

#include "net/idle_socket.hpp"

namespace {

using mmapurl::net::IdleSocketLook;
using mmapurl::net::peer_closed_idle_socket;

IdleSocketLook pending(uint8_t first_byte) {
  IdleSocketLook look;
  look.poll_events = POLLIN;
  look.peeked = 1;
  look.first_byte = first_byte;
  return look;
}

TEST(IdleSocket, AQuietSocketIsKept) {
  EXPECT_FALSE(peer_closed_idle_socket(IdleSocketLook{}, false));
  EXPECT_FALSE(peer_closed_idle_socket(IdleSocketLook{}, true));
}

TEST(IdleSocket, EndOfStreamIsAClose) {
  IdleSocketLook look;
  look.poll_events = POLLIN;
  look.peeked = 0;
  EXPECT_TRUE(peer_closed_idle_socket(look, false));
  EXPECT_TRUE(peer_closed_idle_socket(look, true));
}

TEST(IdleSocket, AFinBehindPendingBytesIsAClose) {
  // A TLS 1.3 close_notify is an application-data record (23) followed by the FIN.
  IdleSocketLook look = pending(23);
  look.poll_events |= POLLRDHUP;
  EXPECT_TRUE(peer_closed_idle_socket(look, true));
  look = IdleSocketLook{};
  look.poll_events = POLLRDHUP;
  EXPECT_TRUE(peer_closed_idle_socket(look, false));
}

TEST(IdleSocket, ResetsAndSocketErrorsAreCloses) {
  for (short events : {short{POLLERR}, short{POLLHUP}, short{POLLNVAL}, short{POLLIN | POLLHUP}}) {
    IdleSocketLook look;
    look.poll_events = events;
    EXPECT_TRUE(peer_closed_idle_socket(look, false)) << events;
    EXPECT_TRUE(peer_closed_idle_socket(look, true)) << events;
  }
  IdleSocketLook reset;
  reset.poll_events = POLLIN;
  reset.peeked = -1;
  reset.peek_errno = ECONNRESET;
  EXPECT_TRUE(peer_closed_idle_socket(reset, true));
  EXPECT_TRUE(peer_closed_idle_socket(reset, false));
}

TEST(IdleSocket, APeekThatWouldBlockKeepsTheConnection) {
  IdleSocketLook look;
  look.poll_events = POLLIN;
  look.peeked = -1;
  look.peek_errno = EAGAIN;
  EXPECT_FALSE(peer_closed_idle_socket(look, true));
  EXPECT_FALSE(peer_closed_idle_socket(look, false));
}

TEST(IdleSocket, ATlsAlertRecordIsAClose) {
  EXPECT_TRUE(peer_closed_idle_socket(pending(21), true));  // TLS 1.2 close_notify
}

TEST(IdleSocket, OtherTlsRecordsAreLeftForTheNextRead) {
  EXPECT_FALSE(peer_closed_idle_socket(pending(23), true));  // a TLS 1.3 NewSessionTicket
  EXPECT_FALSE(peer_closed_idle_socket(pending(22), true));  // a handshake record
}

TEST(IdleSocket, AnyUnaskedByteOnPlainHttpIsAClose) {
  EXPECT_TRUE(peer_closed_idle_socket(pending('H'), false));  // "HTTP/1.1 408 ..."
  EXPECT_TRUE(peer_closed_idle_socket(pending(23), false));
}

}  // namespace
