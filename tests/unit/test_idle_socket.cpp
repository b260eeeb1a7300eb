// The rules that judge the watch on an idle keep-alive connection (net/idle_socket.hpp): a
// connection the server has closed or is closing is closed and forgotten before it carries a
// request; records a TLS server sends unasked are taken in and the watch goes on; a receive
// cancelled by our own close says nothing.
#include <gtest/gtest.h>

#include "net/idle_socket.hpp"

namespace {

using mmapurl::net::IdlePeek;
using mmapurl::net::IdleTakeIn;
using mmapurl::net::IdleVerdict;
using mmapurl::net::judge_idle_peek;
using mmapurl::net::judge_idle_take_in;

IdlePeek pending(uint8_t first_byte) {
  IdlePeek peek;
  peek.bytes = 1;
  peek.first_byte = first_byte;
  return peek;
}

TEST(IdleSocket, ACancelledReceiveSaysNothing) {
  IdlePeek peek;
  peek.cancelled = true;
  EXPECT_EQ(judge_idle_peek(peek, false), IdleVerdict::kNothing);
  EXPECT_EQ(judge_idle_peek(peek, true), IdleVerdict::kNothing);
  IdleTakeIn taken;
  taken.cancelled = true;
  EXPECT_EQ(judge_idle_take_in(taken), IdleVerdict::kNothing);
}

// A FIN (end of stream), a reset or any other error.
TEST(IdleSocket, EndOfStreamResetsAndErrorsAreCloses) {
  IdlePeek peek;
  peek.failed = true;
  EXPECT_EQ(judge_idle_peek(peek, false), IdleVerdict::kClosed);
  EXPECT_EQ(judge_idle_peek(peek, true), IdleVerdict::kClosed);
}

// Started again on the same state, the peek would complete again at once, for ever.
TEST(IdleSocket, APeekThatSawNothingIsAClose) {
  EXPECT_EQ(judge_idle_peek(IdlePeek{}, false), IdleVerdict::kClosed);
  EXPECT_EQ(judge_idle_peek(IdlePeek{}, true), IdleVerdict::kClosed);
}

TEST(IdleSocket, AnyUnaskedByteOnPlainHttpIsAClose) {
  EXPECT_EQ(judge_idle_peek(pending('H'), false), IdleVerdict::kClosed);  // "HTTP/1.1 408 ..."
  EXPECT_EQ(judge_idle_peek(pending(23), false), IdleVerdict::kClosed);
}

TEST(IdleSocket, ATlsAlertRecordIsAClose) {
  EXPECT_EQ(judge_idle_peek(pending(21), true), IdleVerdict::kClosed);  // TLS 1.2 close_notify
}

// In TLS 1.3 a session ticket, a KeyUpdate, a close_notify and data all say 23: the stream reads
// which it is.
TEST(IdleSocket, OtherTlsRecordsAreTakenIn) {
  EXPECT_EQ(judge_idle_peek(pending(23), true), IdleVerdict::kTakeIn);
  EXPECT_EQ(judge_idle_peek(pending(22), true), IdleVerdict::kTakeIn);
}

// Tickets, a KeyUpdate or part of a record: the watch goes on, on bytes that are not those.
TEST(IdleSocket, RecordsWithNothingForUsAreWatchedPast) {
  EXPECT_EQ(judge_idle_take_in(IdleTakeIn{}), IdleVerdict::kWatch);
}

// The stream's end of stream at a close_notify, an alert, a bad record, a FIN inside a record.
TEST(IdleSocket, ACloseOrAnErrorInTheRecordsIsAClose) {
  IdleTakeIn taken;
  taken.failed = true;
  EXPECT_EQ(judge_idle_take_in(taken), IdleVerdict::kClosed);
}

TEST(IdleSocket, UnaskedApplicationDataOverTlsIsAClose) {
  IdleTakeIn taken;
  taken.bytes = 1;
  EXPECT_EQ(judge_idle_take_in(taken), IdleVerdict::kClosed);
}

}  // namespace
