// The rules that judge the watch on an idle connection (net/idle_socket.hpp). The receives
// themselves are HttpConnection's and TlsStream's: through Asio, so io_uring.
#include "net/idle_socket.hpp"

namespace mmapurl::net {

namespace {
constexpr uint8_t kTlsAlert = 21;  // TLSPlaintext.type of an alert record
}  // namespace

IdleVerdict judge_idle_peek(const IdlePeek& peek, bool tls) {
  if (peek.cancelled) return IdleVerdict::kNothing;
  if (peek.failed || peek.bytes == 0 || !tls) return IdleVerdict::kClosed;
  return peek.first_byte == kTlsAlert ? IdleVerdict::kClosed : IdleVerdict::kTakeIn;
}

IdleVerdict judge_idle_take_in(const IdleTakeIn& take_in) {
  if (take_in.cancelled) return IdleVerdict::kNothing;
  if (take_in.failed || take_in.bytes != 0) return IdleVerdict::kClosed;
  return IdleVerdict::kWatch;
}

}  // namespace mmapurl::net
