// splice(2) forwarding: one pipe per direction, filled from the source socket and drained into
// the destination, with poll(2) waiting for whichever side can move bytes next.
#include "netshaper/spliced_forwarding.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace mmapurl::netshaper {
namespace {

constexpr int kPipeBytes = 1 << 20;
// Wake-ups come through the eventfd; this cap only bounds the damage if that ever fails.
constexpr int kMaxPollWaitMs = 1000;

struct Leg {
  int src = -1;
  int dst = -1;
  std::atomic<uint64_t>* total = nullptr;
  int pipe_r = -1;
  int pipe_w = -1;
  size_t capacity = 0;
  size_t in_pipe = 0;      // taken from src, not yet given to dst
  bool pipe_full = false;  // the pipe refused more (slots hold partial pages): drain it first
  bool src_eof = false;
  bool shut = false;  // dst half-closed after src's EOF and the pipe drained

  bool wants_input() const { return !src_eof && !pipe_full && in_pipe < capacity; }
};

bool make_pipe(Leg& leg) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  leg.pipe_r = fds[0];
  leg.pipe_w = fds[1];
  (void)fcntl(leg.pipe_w, F_SETPIPE_SZ, kPipeBytes);  // a smaller pipe only costs more calls
  const int size = fcntl(leg.pipe_w, F_GETPIPE_SZ);
  leg.capacity = size > 0 ? static_cast<size_t>(size) : 65536;
  return true;
}

void close_pipe(Leg& leg) {
  if (leg.pipe_r >= 0) close(leg.pipe_r);
  if (leg.pipe_w >= 0) close(leg.pipe_w);
  leg.pipe_r = leg.pipe_w = -1;
}

// Moves what can move now, src into the pipe and the pipe into dst; false when a socket failed.
bool pump(Leg& leg) {
  for (bool moved = true; moved;) {
    moved = false;
    if (leg.wants_input()) {
      const ssize_t n = splice(leg.src, nullptr, leg.pipe_w, nullptr, leg.capacity - leg.in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        leg.in_pipe += static_cast<size_t>(n);
        moved = true;
      } else if (n == 0) {
        leg.src_eof = true;
      } else if (errno == EAGAIN) {
        // With bytes in the pipe, EAGAIN may be the pipe's and not the socket's.
        leg.pipe_full = leg.in_pipe > 0;
      } else if (errno != EINTR) {
        return false;
      }
    }
    if (leg.in_pipe > 0) {
      const ssize_t n = splice(leg.pipe_r, nullptr, leg.dst, nullptr, leg.in_pipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        leg.in_pipe -= static_cast<size_t>(n);
        leg.total->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        leg.pipe_full = false;
        moved = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return false;
      }
    }
  }
  if (leg.src_eof && leg.in_pipe == 0 && !leg.shut) {
    shutdown(leg.dst, SHUT_WR);
    leg.shut = true;
  }
  return true;
}

}  // namespace

SplicedEnd forward_spliced(int client_fd, int server_fd, int wake_fd, ProxyShared& shared) {
  // splice(2) into a socket the peer has reset raises SIGPIPE, and unlike send() it has no
  // MSG_NOSIGNAL: a process embedding the proxy (the tests, uffd-bench) died of it when a client
  // reset its connection. The signal is synchronous, sent to this thread: blocked here, it stays
  // pending on this connection's thread, which ends with it, and splice reports EPIPE.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  Leg legs[2];
  legs[0].src = client_fd;
  legs[0].dst = server_fd;
  legs[0].total = &shared.bytes_up;
  legs[1].src = server_fd;
  legs[1].dst = client_fd;
  legs[1].total = &shared.bytes_down;
  if (!make_pipe(legs[0]) || !make_pipe(legs[1])) {
    close_pipe(legs[0]);
    close_pipe(legs[1]);
    return SplicedEnd::kNoPipes;
  }
  SplicedEnd end = SplicedEnd::kEnded;
  for (;;) {
    if (shared.stopping.load(std::memory_order_acquire)) {
      end = SplicedEnd::kStopped;
      break;
    }
    if (!pump(legs[0]) || !pump(legs[1])) {
      end = SplicedEnd::kFailed;
      break;
    }
    if (legs[0].shut && legs[1].shut) break;
    // A socket's events: input for the leg it feeds, output for the leg that drains into it.
    const short client_events = static_cast<short>((legs[0].wants_input() ? POLLIN : 0) |
                                                   (legs[1].in_pipe > 0 ? POLLOUT : 0));
    const short server_events = static_cast<short>((legs[1].wants_input() ? POLLIN : 0) |
                                                   (legs[0].in_pipe > 0 ? POLLOUT : 0));
    // A socket we want nothing from is left out: its POLLHUP would otherwise spin the loop.
    pollfd fds[3] = {{client_events ? client_fd : -1, client_events, 0},
                     {server_events ? server_fd : -1, server_events, 0},
                     {wake_fd, POLLIN, 0}};
    if (poll(fds, 3, kMaxPollWaitMs) < 0 && errno != EINTR) {
      end = SplicedEnd::kFailed;
      break;
    }
    if (fds[2].revents) {
      uint64_t value;
      (void)!read(wake_fd, &value, sizeof value);
    }
  }
  close_pipe(legs[0]);
  close_pipe(legs[1]);
  return end;
}

}  // namespace mmapurl::netshaper
