// PrefetchPlanner: pure logic that turns the faults of one mapping into page ranges to fetch.
// No I/O: the engine feeds it faults and filters its answer against the page-state table.
#pragma once

#include <cstdint>
#include <vector>

namespace mmapurl::control {

// How a fault relates to what is already known about its page.
enum class FaultKind : uint8_t {
  kMissing,   // nothing requested for this page yet
  kInFlight,  // a request covering the page is on its way (the reader caught up with prefetch)
  kMarker,    // the page is a readahead marker: its data is held back so that touching it tells
              // the planner the reader has progressed (like the kernel's PG_readahead)
};

// Hints an application gives for a mapping (madvise-like).
enum class AccessHint : uint8_t { kNormal, kSequential, kRandom };

struct FetchRange {
  uint64_t first_page = 0;
  uint64_t page_count = 0;
  bool demand = false;  // a thread waits on it: goes ahead of prefetch
  // A page inside the range whose data the engine should hold back (not fill) as a readahead
  // marker, or kNoMarker. Touching it comes back as FaultKind::kMarker.
  static constexpr uint64_t kNoMarker = UINT64_MAX;
  uint64_t marker_page = kNoMarker;
};

struct PlannerConfig {
  uint64_t random_fetch_pages = 4;     // demand fetch when access looks random (16 KiB)
  uint64_t initial_window_pages = 64;  // first readahead window once sequential (256 KiB)
  uint64_t max_window_pages = 16384;   // readahead cap (64 MiB)
  uint64_t max_streams = 16;           // independent sequential streams tracked per mapping
};

class PrefetchPlanner {
 public:
  PrefetchPlanner(uint64_t total_pages, PlannerConfig config);

  // One fault on `page` by the reader identified by `stream_key` (the faulting thread id, or 0
  // when unknown). Returns the ranges to fetch, the demand range (covering `page`) first when
  // `kind` is kMissing. Ranges never extend past the object; the caller drops pages that are
  // already resident or in flight.
  std::vector<FetchRange> on_fault(uint64_t page, uint64_t stream_key, FaultKind kind);

  // The memory budget is tight: shrink every window (called by eviction under pressure).
  void on_memory_pressure();

  void set_hint(AccessHint hint);

  uint64_t total_pages() const { return total_pages_; }

 private:
  struct Stream {
    uint64_t stream_key = 0;
    uint64_t next_page = 0;      // the page a sequential reader should touch next
    uint64_t window_pages = 0;   // current readahead window (0: not sequential yet)
    uint64_t planned_until = 0;  // one past the last page this stream already asked for
    uint64_t last_used = 0;      // for LRU replacement of streams
  };
  uint64_t total_pages_;
  PlannerConfig config_;
  AccessHint hint_ = AccessHint::kNormal;
  uint64_t clock_ = 0;
  std::vector<Stream> streams_;
};

}  // namespace mmapurl::control
