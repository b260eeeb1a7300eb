// Mapping and Fetch: the engine thread's records of one mapped object and of one ranged GET
// filling part of it. Only the engine thread touches them (counters are read elsewhere).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/page_size.hpp"
#include "cache/disk_cache.hpp"
#include "control/page_state_table.hpp"
#include "control/prefetch_planner.hpp"
#include "net/connection_pool.hpp"
#include "source/object_source.hpp"

namespace mmapurl::core {

using Clock = std::chrono::steady_clock;
using base::kPageSize;

struct Counters {
  std::atomic<uint64_t> faults{0}, bytes_fetched{0}, requests{0}, retries{0}, prefetch_hits{0},
      evictions{0}, resident_bytes{0}, in_flight_bytes{0}, failed_pages{0},
      max_requests_in_flight{0}, connections{0}, staging_buffers_mapped{0}, cache_filled_pages{0};
  std::atomic<uint64_t> latency[32] = {};
  void record_latency(Clock::duration d);
};

struct Fetch;

// What a read of the mapping (mmapurl_read) may copy once the engine has settled its range.
struct ReadReady {
  bool mapped = false;          // the address is inside a mapping
  bool end_of_object = false;   // the address is at or past the object's last byte
  bool failed = false;          // the page after the readable bytes failed for good
  uint64_t readable_bytes = 0;  // from the address on, resident when the range settled
};

// A read waiting for its range to settle: no page of [first_page, end_page) in flight.
struct ReadWatch {
  uint64_t addr = 0, end_byte = 0;  // the bytes asked for, inside the object
  uint64_t first_page = 0, end_page = 0;
  std::promise<ReadReady> ready;
  bool answered = false;
  void answer(const ReadReady& r) {
    if (answered) return;
    answered = true;
    ready.set_value(r);
  }
};

struct Mapping {
  uint64_t id = 0;
  uint64_t base = 0;
  uint64_t length = 0;  // page-rounded
  uint64_t size = 0;    // the object's bytes
  std::unique_ptr<source::ObjectSource> source;
  net::ConnectionPool* pool = nullptr;
  control::PageStateTable pages;
  control::PrefetchPlanner planner;
  std::map<uint64_t, Clock::time_point> waiters;                     // faulted pages not yet filled
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> markers;  // held-back marker pages
  std::unordered_set<std::shared_ptr<Fetch>> fetches;
  std::vector<std::shared_ptr<ReadWatch>> read_watches;  // mmapurl_read calls waiting
  std::string broken;  // set once the object is gone or changed: every missing page fails
  Counters counters;
  // MMAPURL_CACHE_DIR: every fetched page is also kept here (nullptr: no disk cache).
  std::unique_ptr<cache::DiskCache> cache;
  // MMAPURL_CACHE_PREFETCH=whole: the background download's next page and its GETs under way.
  uint64_t cache_cursor = 0;
  bool holds_ready_connections = false;  // its download holds the pool's ready connections
  uint32_t background_fetches = 0;

  Mapping(uint64_t pages_count, control::PlannerConfig planner_config)
      : pages(pages_count), planner(pages_count, planner_config) {}
};

enum class FetchPurpose {
  kDemand,      // a thread faulted (or a read waits) on its first page
  kReadahead,   // pages the planner expects a reader to want next
  kBackground,  // MMAPURL_CACHE_PREFETCH=whole: the object into the disk cache, from its start
};

struct Fetch {
  uint64_t mapping_id = 0;
  FetchPurpose purpose = FetchPurpose::kReadahead;
  uint64_t first_page = 0;
  uint64_t page_count = 0;
  uint64_t copied_pages = 0;       // filled (or held as marker) so far, from the start
  uint64_t request_from_page = 0;  // where the current attempt's body starts
  uint64_t received = 0;           // body bytes of the current attempt so far
  uint64_t marker_page = control::FetchRange::kNoMarker;
  // A thread waits on one of its pages: its request goes ahead of others in the pool's queue,
  // and it fills at once what arrives. Set from the start for kDemand, later when a thread
  // faults on a page a readahead or background fetch brings.
  bool urgent = false;
  // A background GET's bytes go to the disk cache only (its pages stay kAbsent in the table,
  // and a fault on one of them fetches or reads the cache as usual), except the runs of its part
  // a reader's plan ran into ("adopted"): [first, end) in the order adopted, its to fill into the
  // mapping as they arrive (or to fail), so a scan never downloads twice what the background
  // download brings anyway. Other kInFlight pages inside its part belong to other fetches.
  std::vector<std::pair<uint64_t, uint64_t>> adopted;
  bool background() const { return purpose == FetchPurpose::kBackground; }
  // The page is this fetch's to fill: in its part, and adopted if it is a background GET.
  bool owns(uint64_t page) const {
    if (page < first_page || page >= first_page + page_count) return false;
    if (!background()) return true;
    for (const auto& [first, end] : adopted) {
      if (page >= first && page < end) return true;
    }
    return false;
  }
  // Page-aligned staging: a ring of ring_pages pages (all of the part when it is small). Page i
  // of the part is at staging_page(i) until it is filled.
  uint8_t* buffer = nullptr;
  uint64_t ring_pages = 0;
  uint8_t* staging_page(uint64_t i) const { return buffer + (i % ring_pages) * kPageSize; }
  std::shared_ptr<net::Exchange> exchange;
  int attempts = 0;
  Clock::time_point started;
  source::SourceVerdict rejected;  // why on_head refused the answer, if it did
};

}  // namespace mmapurl::core
