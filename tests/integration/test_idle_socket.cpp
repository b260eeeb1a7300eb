// The look at an idle socket (net/idle_socket.hpp) on real loopback TCP connections: what a
// server's close leaves in the client's socket is seen without blocking, and nothing is consumed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "net/idle_socket.hpp"

namespace {

using mmapurl::net::idle_socket_closed_by_peer;
using mmapurl::net::look_at_idle_socket;

// A connected loopback TCP pair: `client` is ours, `server` plays the origin.
struct TcpPair {
  int client = -1;
  int server = -1;
  TcpPair() {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (listener >= 0) ::close(listener);
      return;
    }
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client >= 0 && ::connect(client, reinterpret_cast<sockaddr*>(&addr), len) == 0) {
      server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    }
    ::close(listener);
  }
  ~TcpPair() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
  bool ok() const { return client >= 0 && server >= 0; }
  void send(const void* data, size_t n) const {
    ASSERT_EQ(::send(server, data, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
  }
};

// Loopback delivers at once, but a FIN or a reset is processed in softirq context: give it a
// moment before looking.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

TEST(IdleSocketLook, AQuietConnectionIsKept) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  EXPECT_FALSE(idle_socket_closed_by_peer(pair.client, false));
  EXPECT_FALSE(idle_socket_closed_by_peer(pair.client, true));
}

TEST(IdleSocketLook, AServerThatClosedIsSeen) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  ::close(pair.server);
  pair.server = -1;
  settle();
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, false));
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, true));
}

TEST(IdleSocketLook, AResetIsSeen) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  const linger abort_on_close{1, 0};
  ASSERT_EQ(
      ::setsockopt(pair.server, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close), 0);
  ::close(pair.server);
  pair.server = -1;
  settle();
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, true));
}

// TLS 1.2's close_notify (an alert record: type 21, version 3.3, a 26-byte encrypted body) with
// no FIN yet: seen, and left in the socket.
TEST(IdleSocketLook, ATlsAlertIsSeenAndNotConsumed) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  const uint8_t alert[] = {21, 3, 3, 0, 2, 1, 0};
  pair.send(alert, sizeof alert);
  settle();
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, true));
  uint8_t back[sizeof alert] = {};
  ASSERT_EQ(::recv(pair.client, back, sizeof back, MSG_DONTWAIT),
            static_cast<ssize_t>(sizeof back));
  EXPECT_EQ(back[0], 21);
}

// A TLS 1.3 NewSessionTicket arrives as an application-data record after the handshake, on a
// connection opened ahead and still idle: the connection is kept and the record left alone.
TEST(IdleSocketLook, AnotherTlsRecordIsKeptAndNotConsumed) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  const uint8_t record[] = {23, 3, 3, 0, 3, 9, 9, 9};
  pair.send(record, sizeof record);
  settle();
  const auto look = look_at_idle_socket(pair.client);
  EXPECT_EQ(look.peeked, 1);
  EXPECT_EQ(look.first_byte, 23);
  EXPECT_FALSE(idle_socket_closed_by_peer(pair.client, true));
  // The same bytes on plain HTTP would be read as the next response.
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, false));
  uint8_t back[sizeof record] = {};
  ASSERT_EQ(::recv(pair.client, back, sizeof back, MSG_DONTWAIT),
            static_cast<ssize_t>(sizeof back));
  EXPECT_EQ(back[7], 9);
}

// What nginx and the embedded server do at their keep-alive timeout over TLS 1.3: a record that
// looks like data (the encrypted close_notify), then the FIN.
TEST(IdleSocketLook, AFinBehindARecordIsSeen) {
  TcpPair pair;
  ASSERT_TRUE(pair.ok());
  const uint8_t record[] = {23, 3, 3, 0, 1, 7};
  pair.send(record, sizeof record);
  ASSERT_EQ(::shutdown(pair.server, SHUT_WR), 0);
  settle();
  EXPECT_TRUE(idle_socket_closed_by_peer(pair.client, true));
}

}  // namespace
