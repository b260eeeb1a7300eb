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
  // Each window is this many times the previous one. Growth costs one round trip per step
  // (the reader must reach the window's marker), so at 20 ms a x2 ramp from 256 KiB to 64 MiB
  // spends 8 round trips reading at one connection's speed; the engine uses x4.
  uint64_t window_growth = 2;
};

class PrefetchPlanner {
 public:
  PrefetchPlanner(uint64_t total_pages, PlannerConfig config);

  // One fault on `page` by the reader identified by `stream_key` (the faulting thread id, or 0
  // when unknown). Returns the ranges to fetch, the demand range (covering `page`) first when
  // `kind` is kMissing. Ranges never extend past the object; the caller drops pages that are
  // already resident or in flight. For kMarker and kInFlight the answer is readahead only: the
  // engine releases a held-back marker page itself. A marker the engine cannot hold back (page
  // already present) is simply lost; the planner then learns progress from the next miss.
  // `previous_page_resident`: the page before `page` holds its data. A reader moving forward
  // has just read it; a random fault usually lands beside pages nobody read. Only a fault that
  // comes from the left proves progress (grows a window, turns a block into a scan): dense random
  // reads otherwise land ever more often inside or just past planned windows and ramp them up to
  // the cap (40000 random 4 KiB reads of 1 GiB fetched 1.9 GB).
  std::vector<FetchRange> on_fault(uint64_t page, uint64_t stream_key, FaultKind kind,
                                   bool previous_page_resident = true);

  // The memory budget is tight: shrink every window (called by eviction under pressure).
  void on_memory_pressure();

  void set_hint(AccessHint hint);

  // Pages [first, end) arrived without a fault (the engine's probe fills the object's head at
  // mapping time). A reader going on right after them continues a read, as after a demand block,
  // so a scan from offset 0 starts its readahead at its first fault instead of a round trip later.
  void note_prefilled(uint64_t first, uint64_t end);

  uint64_t total_pages() const { return total_pages_; }

 private:
  // What a stream's recent faults look like: each mode predicts the next pages differently.
  enum class Mode : uint8_t { kRandom, kSequential, kStrided };

  struct Stream {
    uint64_t stream_key = 0;
    uint64_t next_page = 0;      // the page a sequential reader should touch next
    uint64_t window_pages = 0;   // current readahead window (0: not sequential yet)
    uint64_t planned_until = 0;  // one past the last page this stream already asked for
    uint64_t last_used = 0;      // for LRU replacement of streams
    Mode mode = Mode::kRandom;
    // Random/strided: first page of the last demand block; faults from there on continue it.
    uint64_t zone_start = 0;
    // Random/strided: end of the last demand block; reading on from it turns a stream sequential.
    uint64_t block_until = 0;
    // The newest readahead marker planted (older ones only top the plan up when touched).
    uint64_t marker_page = FetchRange::kNoMarker;
    // kInFlight grows the window only from this page on: the parts of one window grow it once.
    uint64_t grow_gate = 0;
    // Memory pressure: the next window keeps the halved size instead of doubling again.
    bool hold_growth = false;
    // After the marker of a forgotten stream: its old plan may reach this far, so a miss up to
    // here still continues the scan.
    uint64_t unknown_plan_until = 0;
    // Planned pages found gone (evicted): the last range asked for again ends here, and the next
    // one, if the reader goes on into the gap, is refill_pages long (grows like a window).
    uint64_t refill_until = 0;
    uint64_t refill_pages = 0;
    // Strided: predicted pages are stride_anchor + k * stride_pages, stride_batch per request.
    uint64_t stride_pages = 0;
    uint64_t stride_anchor = 0;
    uint64_t stride_batch = 0;
  };

  // Distances between the faults of one reader that continued no stream ("jumps"): the same
  // distance twice in a row means strided access.
  struct JumpHistory {
    uint64_t stream_key = 0;
    uint64_t last_page = 0;
    uint64_t delta = 0;
    uint64_t repeats = 0;
    uint64_t last_used = 0;
  };

  Stream* find_stream(uint64_t page, uint64_t stream_key);
  bool continues(const Stream& s, uint64_t page) const;
  Stream& claim_stream(uint64_t stream_key);
  uint64_t observe_jump(uint64_t page, uint64_t stream_key);

  void on_sequential_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                           std::vector<FetchRange>& out);
  void on_random_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                       std::vector<FetchRange>& out);
  void on_strided_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                        std::vector<FetchRange>& out);

  void start_random(Stream& s, uint64_t page, std::vector<FetchRange>& out);
  void start_sequential(Stream& s, uint64_t page, std::vector<FetchRange>& out);
  void start_strided(Stream& s, uint64_t page, uint64_t stride, std::vector<FetchRange>& out);
  void resume_after_marker(Stream& s, uint64_t page, std::vector<FetchRange>& out);

  void advance_sequential(Stream& s, uint64_t page, bool grow, std::vector<FetchRange>& out);
  void issue_window(Stream& s, std::vector<FetchRange>& out);
  void issue_strided_batch(Stream& s, std::vector<FetchRange>& out);
  void push_demand(uint64_t first, uint64_t end, std::vector<FetchRange>& out) const;
  uint64_t block_start(uint64_t page) const { return page - page % config_.random_fetch_pages; }
  uint64_t first_window() const;
  uint64_t initial_batch() const;

  uint64_t total_pages_;
  PlannerConfig config_;
  AccessHint hint_ = AccessHint::kNormal;
  uint64_t clock_ = 0;
  std::vector<Stream> streams_;
  std::vector<JumpHistory> jumps_;
};

}  // namespace mmapurl::control
