// StagingPool: the staging buffers bodies stream through on their way into a mapping, pooled by
// power-of-two size class (request sizes vary with window edges; a pool keyed by exact size
// missed nearly always and paid a fresh mmap and its page faults). It never frees memory for a
// caller: the memory keeper decides what to trim and when.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace mmapurl::core {

class StagingPool {
 public:
  using Clock = std::chrono::steady_clock;
  StagingPool() = default;
  StagingPool(const StagingPool&) = delete;
  StagingPool& operator=(const StagingPool&) = delete;
  ~StagingPool();

  // The size class that holds `bytes`: a power of two, at least 16 KiB.
  static uint64_t size_class(uint64_t bytes);

  struct Taken {
    uint8_t* buffer = nullptr;  // null: the kernel refused a new one (`error`)
    bool fresh = false;         // newly mapped: its pages are not charged yet
    int error = 0;
  };
  // A pooled buffer of the class of `bytes`, else a newly mapped one.
  Taken take(uint64_t bytes, Clock::time_point now);
  // Pools the buffer while the pool stays within `cap` bytes; unmaps it otherwise.
  void give(uint8_t* p, uint64_t bytes, uint64_t cap);
  bool has_spare(uint64_t bytes) const;
  // Unmaps pooled buffers worth `bytes`: none of class `except_class`, and not the last one of
  // class `keep_one_of_class` (0: no such class).
  void trim(uint64_t bytes, uint64_t except_class = 0, uint64_t keep_one_of_class = 0);
  uint64_t spare_bytes() const { return spare_bytes_; }
  Clock::time_point last_taken() const { return last_taken_; }

 private:
  std::unordered_map<uint64_t, std::vector<uint8_t*>> spare_;  // by size class
  uint64_t spare_bytes_ = 0;
  Clock::time_point last_taken_{};
};

}  // namespace mmapurl::core
