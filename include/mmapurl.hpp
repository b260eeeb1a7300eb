// mmapurl C++ API: RAII mappings, access hints and statistics, on top of the C API.
// Header-only over the exported C calls (no C++ symbol of the library is exported), so it
// works with the shared library and the static archive alike; no Boost, no engine internals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace mmapurl {

// Counters of the whole process, or of one mapping: struct mmapurl_stats (mmapurl_ext.h, its
// fields and what they count) with its size set, and percentiles of its latency histogram.
struct Stats : mmapurl_stats {
  Stats() : mmapurl_stats{} { size = sizeof(mmapurl_stats); }
  // percentile (0..100) of the fault latency in microseconds, from the histogram: the midpoint
  // 1.5 * 2^i of the bucket holding the fault of rank p/100 * (n - 1), so within a factor of 1.5
  double fault_latency_percentile_us(double p) const {
    uint64_t total = 0;
    for (uint64_t c : fault_latency_us_log2) total += c;
    if (total == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total - 1));
    uint64_t seen = 0;
    for (size_t i = 0; i < MMAPURL_STATS_LATENCY_BUCKETS; ++i) {
      seen += fault_latency_us_log2[i];
      if (seen > rank) return static_cast<double>(uint64_t{1} << i) * 1.5;
    }
    return 0;
  }
};

enum class Advice : int {
  kNormal = MMAPURL_ADVICE_NORMAL,
  kSequential = MMAPURL_ADVICE_SEQUENTIAL,
  kRandom = MMAPURL_ADVICE_RANDOM,
  kWillNeed = MMAPURL_ADVICE_WILLNEED,
  kDontNeed = MMAPURL_ADVICE_DONTNEED,
};

// The whole process's counters (all zero before the first mapping).
inline Stats process_stats() {
  Stats s;
  mmapurl_stats_get(nullptr, &s);
  return s;
}

// A mapping that unmaps itself. `ok()` is false when mapping failed; `error()` says why.
class Mapping {
 public:
  Mapping() = default;
  explicit Mapping(const std::string& url) {
    size_t sz = 0;
    const void* p = mmap_s3(url.c_str(), &sz, &error_);
    if (p != reinterpret_cast<const void*>(-1)) {
      data_ = static_cast<const uint8_t*>(p);
      size_ = sz;
    }
  }
  ~Mapping() { reset(); }
  Mapping(Mapping&& o) noexcept { *this = std::move(o); }
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      error_ = o.error_;
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  bool ok() const { return data_ != nullptr; }
  int error() const { return error_; }
  const char* error_string() const { return mmap_s3_errstr(error_); }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Like madvise(2) for a range of this mapping. Returns 0 or -1.
  int advise(size_t offset, size_t length, Advice advice) const {
    return mmapurl_advise(data_ + offset, length, static_cast<int>(advice));
  }
  // Copies `length` bytes from `offset` into `out` without ever raising SIGBUS: the bytes
  // copied, or -1 with errno (EIO at a failed page; see mmapurl_read).
  ssize_t read(size_t offset, void* out, size_t length) const {
    return mmapurl_read(data_ + offset, out, length);
  }
  // This mapping's counters (all zero for a mapping that failed).
  Stats stats() const {
    Stats s;
    if (data_) mmapurl_stats_get(data_, &s);
    return s;
  }
  void reset() {
    if (data_) munmap_s3(data_);
    data_ = nullptr;
    size_ = 0;
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int error_ = MMAP_S3_OK;
};

}  // namespace mmapurl
