// mmapurl C++ API: RAII mappings, access hints and statistics, on top of the C API.
// Header-only glue over exported functions; no Boost, no engine internals.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace mmapurl {

// Counters of the whole process, or of one mapping.
struct Stats {
  uint64_t faults = 0;              // missing-page faults handled
  uint64_t bytes_fetched = 0;       // body bytes received
  uint64_t requests = 0;            // ranged GETs completed (including the mapping-time probe)
  uint64_t retries = 0;             // requests retried after a transient failure
  uint64_t prefetch_hits = 0;       // faults on pages already in flight or held as markers
  uint64_t evictions = 0;           // pages dropped to stay within the memory limit
  uint64_t resident_bytes = 0;      // filled pages still in memory
  uint64_t in_flight_bytes = 0;     // staging memory of requests under way
  uint64_t failed_pages = 0;        // pages that raised SIGBUS (sticky)
  uint64_t max_requests_in_flight = 0;
  uint64_t connections = 0;         // connections opened (process-wide only)
  // staging buffers mapped afresh rather than taken from the pool (process-wide only): each
  // costs an mmap and a page fault per 4 KiB written into it
  uint64_t staging_buffers_mapped = 0;
  // fault latency histogram: bucket i counts faults served in [2^i, 2^(i+1)) microseconds
  std::array<uint64_t, 32> fault_latency_us_log2{};
  // percentile (0..100) of the fault latency in microseconds, from the histogram
  double fault_latency_percentile_us(double p) const {
    uint64_t total = 0;
    for (uint64_t c : fault_latency_us_log2) total += c;
    if (total == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total - 1));
    uint64_t seen = 0;
    for (size_t i = 0; i < fault_latency_us_log2.size(); ++i) {
      seen += fault_latency_us_log2[i];
      if (seen > rank) return static_cast<double>(uint64_t{1} << i) * 1.5;
    }
    return 0;
  }
  // The disk cache (MMAPURL_CACHE_DIR). Added after the histogram: a program built against a
  // header without them passes the shorter size and gets the fields before them.
  uint64_t cache_filled_pages = 0;  // pages filled from the cache file instead of the network
  uint64_t cached_bytes = 0;        // bytes the cache files hold now (the object's, page-rounded)
};

// The size of Stats before the disk cache counters: mmapurl_stats accepts it too.
inline constexpr size_t kStatsSizeBeforeCache = offsetof(Stats, cache_filled_pages);

enum class Advice : int {
  kNormal = MMAPURL_ADVICE_NORMAL,
  kSequential = MMAPURL_ADVICE_SEQUENTIAL,
  kRandom = MMAPURL_ADVICE_RANDOM,
  kWillNeed = MMAPURL_ADVICE_WILLNEED,
  kDontNeed = MMAPURL_ADVICE_DONTNEED,
};

inline Stats process_stats() {
  Stats s;
  mmapurl_stats(nullptr, &s, sizeof s);
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
  Stats stats() const {
    Stats s;
    mmapurl_stats(data_, &s, sizeof s);
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
