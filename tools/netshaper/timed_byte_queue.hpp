// TimedByteQueue: the bytes read from one side of a connection, each chunk stamped with the time
// it may be delivered to the other side; this is how a one-way delay is applied without
// limiting throughput (the whole bandwidth-delay product sits here).
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <vector>

namespace mmapurl::netshaper {

class TimedByteQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // Appends buffer[0, length). The buffer is kept (moved) rather than copied.
  void push(std::vector<char>&& buffer, size_t length, Clock::time_point due);
  // The unsent rest of the front chunk if it is due at `now`; empty otherwise.
  std::span<const char> front_due(Clock::time_point now) const;
  // Fills iov with up to max_iov due pieces totalling at most max_bytes (for one sendmsg);
  // returns the number of entries used.
  size_t gather_due(Clock::time_point now, size_t max_bytes, iovec* iov, size_t max_iov) const;
  std::optional<Clock::time_point> next_due() const;
  // Drops n sent bytes from the front (n <= front_due().size()).
  void consume(size_t n);
  void clear();

  bool empty() const { return chunks_.empty(); }
  size_t bytes() const { return bytes_; }
  // Memory held by the queued buffers (>= bytes()): what a queue cap should count.
  size_t footprint() const { return footprint_; }

  // A buffer of `size` bytes for the next read: a recycled one when available.
  std::vector<char> take_buffer(size_t size);

 private:
  struct Chunk {
    std::vector<char> buffer;
    size_t length;
    size_t offset;
    Clock::time_point due;
  };
  void recycle(std::vector<char>&& buffer);

  std::deque<Chunk> chunks_;
  size_t bytes_ = 0;
  size_t footprint_ = 0;
  std::vector<std::vector<char>> spare_;
};

}  // namespace mmapurl::netshaper
