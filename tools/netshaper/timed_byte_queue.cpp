// TimedByteQueue: the bytes read from one side of a connection, each chunk stamped with the time
// it may be delivered to the other side.
#include "netshaper/timed_byte_queue.hpp"

#include <algorithm>
#include <utility>

namespace mmapurl::netshaper {
namespace {
// Recycled read buffers kept per queue: enough to avoid malloc churn at full speed.
constexpr size_t kMaxSpareBuffers = 8;
}  // namespace

void TimedByteQueue::push(std::vector<char>&& buffer, size_t length, Clock::time_point due) {
  if (length == 0) return;
  bytes_ += length;
  footprint_ += buffer.size();
  chunks_.push_back(Chunk{std::move(buffer), length, 0, due});
}

std::span<const char> TimedByteQueue::front_due(Clock::time_point now) const {
  if (chunks_.empty() || chunks_.front().due > now) return {};
  const Chunk& c = chunks_.front();
  return {c.buffer.data() + c.offset, c.length - c.offset};
}

size_t TimedByteQueue::gather_due(Clock::time_point now, size_t max_bytes, iovec* iov,
                                  size_t max_iov) const {
  size_t used = 0;
  for (const Chunk& c : chunks_) {
    if (used == max_iov || max_bytes == 0 || c.due > now) break;
    const size_t len = std::min(c.length - c.offset, max_bytes);
    iov[used++] = {const_cast<char*>(c.buffer.data() + c.offset), len};
    max_bytes -= len;
  }
  return used;
}

std::optional<TimedByteQueue::Clock::time_point> TimedByteQueue::next_due() const {
  if (chunks_.empty()) return std::nullopt;
  return chunks_.front().due;
}

void TimedByteQueue::consume(size_t n) {
  while (n > 0 && !chunks_.empty()) {
    Chunk& c = chunks_.front();
    const size_t take = std::min(n, c.length - c.offset);
    c.offset += take;
    bytes_ -= take;
    n -= take;
    if (c.offset == c.length) {
      footprint_ -= c.buffer.size();
      recycle(std::move(c.buffer));
      chunks_.pop_front();
    }
  }
}

void TimedByteQueue::clear() {
  chunks_.clear();
  bytes_ = 0;
  footprint_ = 0;
}

std::vector<char> TimedByteQueue::take_buffer(size_t size) {
  while (!spare_.empty()) {
    std::vector<char> b = std::move(spare_.back());
    spare_.pop_back();
    if (b.size() == size) return b;
  }
  return std::vector<char>(size);
}

void TimedByteQueue::recycle(std::vector<char>&& buffer) {
  if (spare_.size() < kMaxSpareBuffers && !buffer.empty()) spare_.push_back(std::move(buffer));
}

}  // namespace mmapurl::netshaper
