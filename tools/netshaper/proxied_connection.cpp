// ProxiedConnection: one client connection and its upstream twin, forwarded by one thread's poll
// loop through a delay queue and a token bucket per direction, with the proxy's faults applied.
#include "netshaper/proxied_connection.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "netshaper/link_budget.hpp"
#include "netshaper/spliced_forwarding.hpp"

namespace mmapurl::netshaper {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadSize = 256 * 1024;
// Reads smaller than this are copied out of the scratch buffer, so many small delayed messages
// do not each pin a 256 KiB buffer.
constexpr size_t kCopyBelow = 64 * 1024;
constexpr size_t kMaxWrite = 4 * 1024 * 1024;
constexpr size_t kMaxIov = 64;
// Reads per wake-up while the sender keeps filling whole buffers: fewer polls at full speed.
constexpr int kReadsPerWake = 4;
constexpr int kConnectTimeoutMs = 10000;
// After a truncation (FIN both ways) unread input is drained for a while: closing a socket with
// unread data would send an RST and turn the clean close into a reset.
constexpr auto kDrainAfterClose = std::chrono::seconds(1);
bool is_byte_fault(TcpFault f) {
  return f == TcpFault::kResetAfterBytes || f == TcpFault::kCloseAfterBytes ||
         f == TcpFault::kStallAfterBytes;
}

}  // namespace

ProxiedConnection::ProxiedConnection(int client_fd, ProxyShared& shared)
    : shared_(shared),
      fds_{client_fd, -1},
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      accepted_at_(Clock::now()),
      up_(Side::kClient, Side::kServer, delay_from_ms(shared.options.delay_ms_up),
          shared.options.conn_mbps * 1e6,
          queue_limit_for(shared.options, shared.options.delay_ms_up), accepted_at_,
          &shared.bytes_up),
      down_(Side::kServer, Side::kClient, delay_from_ms(shared.options.delay_ms_down),
            shared.options.conn_mbps * 1e6,
            queue_limit_for(shared.options, shared.options.delay_ms_down), accepted_at_,
            &shared.bytes_down) {}

ProxiedConnection::~ProxiedConnection() {
  close_both();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ProxiedConnection::wake() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

void ProxiedConnection::drain_wake_fd() {
  uint64_t value;
  if (wake_fd_ >= 0) (void)!read(wake_fd_, &value, sizeof value);
}

void ProxiedConnection::run() {
  fds_[1] = connect_tcp(shared_.targets, wake_fd_, kConnectTimeoutMs);
  if (fds_[1] < 0) {
    reset_both();  // the client sees the upstream failure as a reset, like a dead server
    finished_.store(true, std::memory_order_release);
    return;
  }
  set_nodelay(fds_[0]);
  set_nodelay(fds_[1]);
  if (shared_.options.splice) {
    const SplicedEnd end = forward_spliced(fds_[0], fds_[1], wake_fd_, shared_, accepted_at_);
    if (end != SplicedEnd::kNoPipes) {
      if (end == SplicedEnd::kFailed) {
        reset_both();
      } else {
        close_both();
      }
      finished_.store(true, std::memory_order_release);
      return;
    }
  }
  up_.scratch = up_.queue.take_buffer(kReadSize);
  down_.scratch = down_.queue.take_buffer(kReadSize);

  for (;;) {
    if (shared_.stopping.load(std::memory_order_acquire)) {
      close_both();
      break;
    }
    auto now = Clock::now();
    if (sync_fault(now) == Outcome::kDone) break;
    if (stalled_) {
      wait_while_stalled();
      continue;
    }
    write_due(up_, now);
    write_due(down_, now);
    if (sync_fault(now) == Outcome::kDone) break;  // a byte fault may fire on what was written
    if (stalled_) continue;

    const auto reset_due = [now](const Direction& d) {
      return d.src_reset && d.queue.empty() && now >= d.end_due;
    };
    if (reset_due(up_) || reset_due(down_)) {
      reset_both();
      break;
    }
    if (up_.end_delivered && down_.end_delivered) {
      close_both();
      break;
    }

    const auto needs_pollout = [](const Direction& d) {
      return d.write_blocked && !d.dst_dead && !d.end_delivered;
    };
    pollfd fds[3];
    const short client_events =
        static_cast<short>((wants_read(up_) ? POLLIN : 0) | (needs_pollout(down_) ? POLLOUT : 0));
    const short server_events =
        static_cast<short>((wants_read(down_) ? POLLIN : 0) | (needs_pollout(up_) ? POLLOUT : 0));
    // An fd we want nothing from is left out: its POLLHUP/POLLERR would otherwise spin the loop.
    fds[0] = {client_events ? fds_[0] : -1, client_events, 0};
    fds[1] = {server_events ? fds_[1] : -1, server_events, 0};
    fds[2] = {wake_fd_, POLLIN, 0};
    poll_until(fds, 3, std::min(next_wakeup(up_, now), next_wakeup(down_, now)));
    if (fds[2].revents) drain_wake_fd();

    now = Clock::now();
    for (Side side : {Side::kClient, Side::kServer}) {
      const short rev = fds[static_cast<int>(side)].revents;
      if (rev == 0) continue;
      Direction& from = side == Side::kClient ? up_ : down_;
      Direction& to = side == Side::kClient ? down_ : up_;
      if (rev & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd(side), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
          on_side_failed(side, now);
          continue;
        }
      }
      // On POLLHUP/POLLERR too, so the write or read itself reports what happened.
      if (rev & (POLLOUT | POLLHUP | POLLERR)) to.write_blocked = false;
      if ((rev & (POLLIN | POLLHUP | POLLERR)) && wants_read(from)) read_from(from, now);
    }
  }
  finished_.store(true, std::memory_order_release);
}

bool ProxiedConnection::wants_read(const Direction& d) const {
  // Reading stops when the queue is full: the sender then feels TCP back-pressure.
  return !d.src_done && !d.dst_dead && d.queue.footprint() < d.queue_limit;
}

void ProxiedConnection::read_from(Direction& d, Clock::time_point now) {
  for (int i = 0; i < kReadsPerWake && wants_read(d); ++i) {
    if (!read_once(d, now)) break;
  }
}

bool ProxiedConnection::read_once(Direction& d, Clock::time_point now) {
  const ssize_t n = recv(fd(d.src), d.scratch.data(), d.scratch.size(), MSG_DONTWAIT);
  Clock::time_point sent_at = now;
  if (&d == &up_ && shared_.options.emulate_handshake_rtt) {
    sent_at = std::max(now, accepted_at_ + up_.delay + down_.delay);
  }
  if (n > 0) {
    const size_t len = static_cast<size_t>(n);
    if (len >= kCopyBelow) {
      d.queue.push(std::move(d.scratch), len, sent_at + d.delay);
      d.scratch = d.queue.take_buffer(kReadSize);
    } else {
      d.queue.push(std::vector<char>(d.scratch.begin(), d.scratch.begin() + n), len,
                   sent_at + d.delay);
    }
    return len == kReadSize;  // a full buffer: more is probably waiting
  }
  if (n == 0) {
    d.src_done = true;  // EOF travels with the same delay as the data before it
    d.end_due = sent_at + d.delay;
    return false;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
  on_side_failed(d.src, now);
  return false;
}

void ProxiedConnection::write_due(Direction& d, Clock::time_point now) {
  if (d.dst_dead) return;
  while (!d.write_blocked) {
    size_t n = std::min(d.queue.bytes(), kMaxWrite);
    if (&d == &down_ && is_byte_fault(fault_)) {
      if (down_.delivered >= fault_limit_) break;  // the fault fires before anything more
      n = std::min<uint64_t>(n, fault_limit_ - down_.delivered);
    }
    // Everything due goes out in one sendmsg: with a delay, many small chunks fall due together.
    iovec iov[kMaxIov];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = d.queue.gather_due(now, n, iov, kMaxIov);
    size_t due = 0;
    for (size_t i = 0; i < msg.msg_iovlen; ++i) due += iov[i].iov_len;
    if (due == 0) break;
    n = d.bucket.allowance(now, due);
    if (n == 0) {
      d.paced_wanted = due;
      break;
    }
    if (n < due) msg.msg_iovlen = d.queue.gather_due(now, n, iov, kMaxIov);
    const ssize_t w = sendmsg(fd(d.dst), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        d.write_blocked = true;
        break;
      }
      on_side_failed(d.dst, now);
      return;
    }
    const size_t written = static_cast<size_t>(w);
    d.bucket.consume(written);
    d.queue.consume(written);
    d.delivered += written;
    d.total->fetch_add(written, std::memory_order_relaxed);
    if (written < n) {
      d.write_blocked = true;  // a short write means the send buffer is full
      break;
    }
  }
  if (d.queue.empty() && d.src_done && !d.src_reset && !d.end_delivered && now >= d.end_due) {
    shutdown(fd(d.dst), SHUT_WR);  // half-close: the peer reads EOF, the other way stays open
    d.end_delivered = true;
  }
}

void ProxiedConnection::on_side_failed(Side s, Clock::time_point now) {
  Direction& from = s == Side::kClient ? up_ : down_;
  Direction& to = s == Side::kClient ? down_ : up_;
  // The failure reaches the other side after the data that came before it, as an RST.
  if (!from.src_reset) {
    from.src_done = true;
    from.src_reset = true;
    from.end_due = now + from.delay;
  }
  to.dst_dead = true;
  to.queue.clear();
  to.write_blocked = false;
}

ProxiedConnection::Outcome ProxiedConnection::sync_fault(Clock::time_point) {
  const uint64_t generation = shared_.faults.generation();
  if (generation != fault_generation_) {
    const FaultSpec spec = shared_.faults.current();
    fault_generation_ = spec.generation;
    fault_ = spec.fault;
    fault_limit_ = down_.delivered + spec.after_bytes;
    stalled_ = false;  // a new or cleared fault lifts a stall
  }
  if (fault_ == TcpFault::kNone || stalled_) return Outcome::kContinue;
  if (fault_ == TcpFault::kRefuse || down_.delivered >= fault_limit_) {
    if (!shared_.faults.claim(fault_generation_)) {
      fault_ = TcpFault::kNone;  // the fault's connection budget is spent: forward normally
      return Outcome::kContinue;
    }
    return act_on_fault();
  }
  return Outcome::kContinue;
}

ProxiedConnection::Outcome ProxiedConnection::act_on_fault() {
  switch (fault_) {
    case TcpFault::kStallAfterBytes:
      stalled_ = true;
      return Outcome::kContinue;
    case TcpFault::kCloseAfterBytes:
      close_cleanly_after_truncation();
      return Outcome::kDone;
    case TcpFault::kResetAfterBytes:
    case TcpFault::kRefuse:
      reset_both();
      return Outcome::kDone;
    case TcpFault::kNone:
      break;
  }
  return Outcome::kContinue;
}

ProxiedConnection::Clock::time_point ProxiedConnection::next_wakeup(const Direction& d,
                                                                    Clock::time_point now) const {
  if (!d.queue.empty() && !d.dst_dead) {
    if (d.write_blocked) return Clock::time_point::max();  // POLLOUT wakes us
    const Clock::time_point due = *d.queue.next_due();
    if (due > now) return due;
    return d.bucket.ready_at(d.paced_wanted);  // due but paced
  }
  if (d.queue.empty() && d.src_done && !d.end_delivered) return d.end_due;
  return Clock::time_point::max();
}

void ProxiedConnection::wait_while_stalled() {
  pollfd fds[1] = {{wake_fd_, POLLIN, 0}};
  poll_until(fds, 1, Clock::time_point::max());
  if (fds[0].revents) drain_wake_fd();
}

void ProxiedConnection::close_cleanly_after_truncation() {
  shutdown(fds_[0], SHUT_WR);
  shutdown(fds_[1], SHUT_WR);
  bool open[2] = {true, true};
  const auto deadline = Clock::now() + kDrainAfterClose;
  while ((open[0] || open[1]) && Clock::now() < deadline &&
         !shared_.stopping.load(std::memory_order_acquire)) {
    pollfd fds[3] = {{open[0] ? fds_[0] : -1, POLLIN, 0},
                     {open[1] ? fds_[1] : -1, POLLIN, 0},
                     {wake_fd_, POLLIN, 0}};
    poll_until(fds, 3, deadline);
    if (fds[2].revents) drain_wake_fd();
    for (int i = 0; i < 2; ++i) {
      if (open[i] && fds[i].revents) open[i] = discard_input(fds_[i]);
    }
  }
  close_both();
}

void ProxiedConnection::close_both() {
  for (int& f : fds_) {
    if (f >= 0) close(f);
    f = -1;
  }
}

void ProxiedConnection::reset_both() {
  for (int& f : fds_) {
    close_with_reset(f);
    f = -1;
  }
}

}  // namespace mmapurl::netshaper
