// splice(2) forwarding: one pipe per direction, filled from the source socket and drained into
// the destination once its bytes are due and the token bucket allows, with ppoll(2) waiting for
// whichever side can move bytes next or the next byte's due time.
#include "netshaper/spliced_forwarding.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>

#include "netshaper/link_budget.hpp"
#include "netshaper/socket_ops.hpp"
#include "netshaper/token_bucket.hpp"

namespace mmapurl::netshaper {
namespace {

using Clock = std::chrono::steady_clock;

// An unshaped pipe: larger only saves calls. A shaped one holds what the link holds
// (queue_limit_for), up to kMaxShapedPipeBytes; past pipe-max-size (1 MiB) only with
// CAP_SYS_RESOURCE, so an unprivileged proxy falls back to 1 MiB.
constexpr size_t kPipeBytes = size_t{1} << 20;
constexpr size_t kMaxShapedPipeBytes = size_t{8} << 20;

// Bytes taken from src at one time, due at dst at `due`.
struct Stamp {
  size_t bytes;
  Clock::time_point due;
};

struct Leg {
  Leg(double bytes_per_second, Clock::time_point now) : bucket(bytes_per_second, now) {}

  int src = -1;
  int dst = -1;
  std::atomic<uint64_t>* total = nullptr;
  int pipe_r = -1;
  int pipe_w = -1;
  size_t limit = 0;        // bytes the pipe may hold: its capacity or the link's, the smaller
  size_t in_pipe = 0;      // taken from src, not yet given to dst
  bool pipe_full = false;  // the pipe refused more (slots hold partial pages): drain it first
  bool src_eof = false;
  Clock::time_point end_due{};  // when src's EOF reaches dst
  bool shut = false;            // dst half-closed after src's EOF and the pipe drained
  bool write_blocked = false;   // dst's send buffer is full: wait for POLLOUT
  // Shaping: bytes are due `delay` after they left src, or after `held_until` (the handshake's
  // RTT on the client's first bytes), and leave at the bucket's rate.
  Clock::duration delay{};
  Clock::time_point held_until{};
  TokenBucket bucket;
  size_t paced_wanted = 0;  // what the bucket last refused: sizes the wait for it
  std::deque<Stamp> stamps;

  bool shaped() const { return delay > Clock::duration::zero() || !bucket.unlimited(); }
  bool wants_input() const { return !src_eof && !pipe_full && in_pipe < limit; }
  Clock::time_point due_time(Clock::time_point now) const {
    return std::max(now, held_until) + delay;
  }

  void took(size_t n, Clock::time_point now) {
    in_pipe += n;
    const Clock::time_point due = due_time(now);
    if (!stamps.empty() && stamps.back().due == due) {
      stamps.back().bytes += n;
    } else {
      stamps.push_back({n, due});
    }
  }
  size_t due_bytes(Clock::time_point now) const {
    size_t due = 0;
    for (const Stamp& s : stamps) {
      if (s.due > now) break;
      due += s.bytes;
    }
    return due;
  }
  void gave(size_t n) {
    in_pipe -= n;
    while (n > 0) {
      const size_t part = std::min(n, stamps.front().bytes);
      stamps.front().bytes -= part;
      n -= part;
      if (stamps.front().bytes == 0) stamps.pop_front();
    }
  }
  // After a pump at `now`: when this leg can move bytes without a socket event; max() when only
  // an event can help.
  Clock::time_point next_wakeup(Clock::time_point now) const {
    if (in_pipe > 0 && !write_blocked) {
      if (stamps.front().due > now) return stamps.front().due;
      return bucket.ready_at(paced_wanted);  // due but paced
    }
    if (src_eof && in_pipe == 0 && !shut) return end_due;
    return Clock::time_point::max();
  }
};

bool make_pipe(Leg& leg, size_t link_bytes) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  leg.pipe_r = fds[0];
  leg.pipe_w = fds[1];
  const size_t wanted =
      leg.shaped() ? std::clamp(link_bytes, kPipeBytes, kMaxShapedPipeBytes) : kPipeBytes;
  if (fcntl(leg.pipe_w, F_SETPIPE_SZ, static_cast<int>(wanted)) < 0 && wanted > kPipeBytes) {
    (void)fcntl(leg.pipe_w, F_SETPIPE_SZ, static_cast<int>(kPipeBytes));
  }
  const int size = fcntl(leg.pipe_w, F_GETPIPE_SZ);  // a smaller pipe only costs more calls
  const size_t capacity = size > 0 ? static_cast<size_t>(size) : 65536;
  leg.limit = leg.shaped() ? std::min(capacity, link_bytes) : capacity;
  return true;
}

void close_pipe(Leg& leg) {
  if (leg.pipe_r >= 0) close(leg.pipe_r);
  if (leg.pipe_w >= 0) close(leg.pipe_w);
  leg.pipe_r = leg.pipe_w = -1;
}

// Moves what can move now, src into the pipe and what is due from the pipe into dst; false when a
// socket failed.
bool pump(Leg& leg, Clock::time_point now) {
  for (bool moved = true; moved;) {
    moved = false;
    if (leg.wants_input()) {
      const ssize_t n = splice(leg.src, nullptr, leg.pipe_w, nullptr, leg.limit - leg.in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        leg.took(static_cast<size_t>(n), now);
        moved = true;
      } else if (n == 0) {
        leg.src_eof = true;  // EOF travels with the same delay as the data before it
        leg.end_due = leg.due_time(now);
      } else if (errno == EAGAIN) {
        // With bytes in the pipe, EAGAIN may be the pipe's and not the socket's: it is the pipe's
        // when the socket still has bytes to read. Taken for the pipe's, reading would wait for
        // the next drain, a whole delay away on a shaped link.
        int unread = 0;
        leg.pipe_full = leg.in_pipe > 0 && ioctl(leg.src, SIOCINQ, &unread) == 0 && unread > 0;
      } else if (errno != EINTR) {
        return false;
      }
    }
    if (leg.in_pipe > 0 && !leg.write_blocked) {
      const size_t due = leg.due_bytes(now);
      const size_t allowed = due > 0 ? leg.bucket.allowance(now, due) : 0;
      if (due > 0 && allowed == 0) leg.paced_wanted = due;
      if (allowed > 0) {
        const ssize_t n = splice(leg.pipe_r, nullptr, leg.dst, nullptr, allowed,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          const size_t given = static_cast<size_t>(n);
          leg.gave(given);
          leg.bucket.consume(given);
          leg.total->fetch_add(given, std::memory_order_relaxed);
          leg.pipe_full = false;
          moved = true;
        } else if (n < 0 && errno == EAGAIN) {
          leg.write_blocked = true;  // the pipe holds bytes, so the socket is what is full
        } else if (n < 0 && errno != EINTR) {
          return false;
        }
      }
    }
  }
  if (leg.src_eof && leg.in_pipe == 0 && !leg.shut && now >= leg.end_due) {
    shutdown(leg.dst, SHUT_WR);
    leg.shut = true;
  }
  return true;
}

}  // namespace

SplicedEnd forward_spliced(int client_fd, int server_fd, int wake_fd, ProxyShared& shared,
                           Clock::time_point accepted_at) {
  // splice(2) into a socket the peer has reset raises SIGPIPE, and unlike send() it has no
  // MSG_NOSIGNAL: a process embedding the proxy (the tests, uffd-bench) died of it when a client
  // reset its connection. The signal is synchronous, sent to this thread: blocked here, it stays
  // pending on this connection's thread, which ends with it, and splice reports EPIPE.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  const ShaperOptions& o = shared.options;
  const double rate = o.conn_mbps > 0 ? o.conn_mbps * 1e6 : 0;
  Leg up(rate, accepted_at);
  Leg down(rate, accepted_at);
  up.src = client_fd;
  up.dst = server_fd;
  up.total = &shared.bytes_up;
  up.delay = delay_from_ms(o.delay_ms_up);
  if (o.emulate_handshake_rtt) {
    up.held_until = accepted_at + up.delay + delay_from_ms(o.delay_ms_down);
  }
  down.src = server_fd;
  down.dst = client_fd;
  down.total = &shared.bytes_down;
  down.delay = delay_from_ms(o.delay_ms_down);
  if (!make_pipe(up, queue_limit_for(o, o.delay_ms_up)) ||
      !make_pipe(down, queue_limit_for(o, o.delay_ms_down))) {
    close_pipe(up);
    close_pipe(down);
    return SplicedEnd::kNoPipes;
  }
  SplicedEnd end = SplicedEnd::kEnded;
  for (;;) {
    if (shared.stopping.load(std::memory_order_acquire)) {
      end = SplicedEnd::kStopped;
      break;
    }
    const Clock::time_point now = Clock::now();
    if (!pump(up, now) || !pump(down, now)) {
      end = SplicedEnd::kFailed;
      break;
    }
    if (up.shut && down.shut) break;
    // A socket's events: input for the leg it feeds, output for the leg that drains into it.
    const short client_events =
        static_cast<short>((up.wants_input() ? POLLIN : 0) | (down.write_blocked ? POLLOUT : 0));
    const short server_events =
        static_cast<short>((down.wants_input() ? POLLIN : 0) | (up.write_blocked ? POLLOUT : 0));
    // A socket we want nothing from is left out: its POLLHUP would otherwise spin the loop.
    pollfd fds[3] = {{client_events ? client_fd : -1, client_events, 0},
                     {server_events ? server_fd : -1, server_events, 0},
                     {wake_fd, POLLIN, 0}};
    poll_until(fds, 3, std::min(up.next_wakeup(now), down.next_wakeup(now)));
    if (fds[2].revents) {
      uint64_t value;
      (void)!read(wake_fd, &value, sizeof value);
    }
    // POLLOUT, or POLLHUP/POLLERR, which the next splice itself reports.
    if (fds[0].revents & (POLLOUT | POLLHUP | POLLERR)) down.write_blocked = false;
    if (fds[1].revents & (POLLOUT | POLLHUP | POLLERR)) up.write_blocked = false;
  }
  close_pipe(up);
  close_pipe(down);
  return end;
}

}  // namespace mmapurl::netshaper
