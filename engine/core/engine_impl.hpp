// EngineImpl: the engine's state, owned by its single event-loop thread. Two files implement
// it: engine.cpp (start, mapping, unmapping, hints, stats) and fault_service.cpp (faults,
// fetches, fills, retries, eviction).
#pragma once

#include <linux/userfaultfd.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "control/engine_config.hpp"
#include "control/fill_order.hpp"
#include "control/memory_limit_governor.hpp"
#include "core/contain.hpp"
#include "core/engine.hpp"
#include "core/mapping.hpp"
#include "core/test_hooks.hpp"
#include "uffd/userfaultfd.hpp"

namespace mmapurl::core {

struct OpenJob;

class EngineImpl {
 public:
  EngineImpl() = default;
  bool start(MapOutcome* failure);

  // Called on the engine thread.
  // begin_open with its errors contained: whatever it throws fails the open, never strands it.
  void run_open(std::shared_ptr<OpenJob> job);
  void begin_open(std::shared_ptr<OpenJob> job);
  // Answers the caller once; later answers (a failure contained after success) are dropped.
  void finish_open(std::shared_ptr<OpenJob> job, MapOutcome outcome);
  void fail_open(const std::shared_ptr<OpenJob>& job, Contained failure);
  std::optional<net::BodyTarget> take_probe_answer(OpenJob& job, const net::ResponseHead& head,
                                                   std::string* reject,
                                                   source::SourceError* refusal);
  void on_probe_complete(const std::shared_ptr<OpenJob>& job, source::SourceError refusal,
                         net::ExchangeResult&& r);
  void create_mapping(std::shared_ptr<OpenJob> job);
  control::PlannerConfig planner_config() const;
  Mapping* add_mapping(OpenJob& job, uint64_t base, uint64_t length, uint64_t pages);
  void ask_size(std::shared_ptr<OpenJob> job, net::RequestSpec request);
  void on_size_answer(const std::shared_ptr<OpenJob>& job, net::ExchangeResult&& r);
  int unmap_now(uint64_t addr);
  int advise_now(uint64_t addr, uint64_t len, int advice);
  // read_service.cpp: fetches what a read needs of [addr, addr + len) and answers `watch` once
  // no page of it is in flight.
  void prepare_read(uint64_t addr, uint64_t len, uint64_t stream, std::shared_ptr<ReadWatch> watch);
  // Answers the reads of `m` whose ranges have settled (all of them when `gone`).
  void settle_reads(Mapping& m, bool gone = false);
  std::unique_ptr<cache::DiskCache> open_cache(const source::ObjectSource& source,
                                               const source::ObjectIdentity& id, uint64_t pages);
  // Saves (or, too large, discards) a kept cache; false when the mapping has none.
  bool save_kept_cache(Mapping& m);
  void prune_kept_caches();
  void hold_ready_connections(Mapping& m, bool hold);
  Mapping* find_mapping(uint64_t addr);
  net::ConnectionPool* pool_for(const net::Origin& origin);

  // fault_service.cpp
  void read_faults();
  void drain_faults();
  void retry_read_faults_later(boost::system::error_code ec);
  void serve_fault(const uffd_msg& msg);
  void on_fault(const uffd_msg& msg);
  // A held-back readahead marker page goes into the mapping; false if the kernel refused it
  // (the page is then kAbsent again).
  bool fill_marker(Mapping& m, uint64_t page);
  // Fetches owning a page of [first, end) become demand, and fill what they hold back now.
  void hurry_fetches(Mapping& m, uint64_t first, uint64_t end);
  void plan_and_schedule(Mapping& m, uint64_t page, uint64_t stream, control::FaultKind kind);
  void schedule_range(Mapping& m, const control::FetchRange& range);
  // Starts (or restarts) a GET of the fetch's part; a staging buffer the kernel refuses fails
  // the fetch at once, as a request that failed for good would.
  void start_fetch(Mapping& m, std::shared_ptr<Fetch> fetch);
  // A fetch whose handler threw: fails what it still owns, if its mapping still has it.
  void fail_contained_fetch(const std::shared_ptr<Fetch>& fetch, Contained failure);
  std::optional<net::BodyTarget> take_range_answer(Fetch& fetch, const net::ResponseHead& head,
                                                   uint64_t first, uint64_t last,
                                                   std::string* reject);
  // Fills what arrived when worth it; returns the body bytes done with (free in the ring).
  uint64_t on_fetch_progress(const std::shared_ptr<Fetch>& fetch, uint64_t received);
  void on_fetch_complete(const std::shared_ptr<Fetch>& fetch, net::ExchangeResult&& result);
  void fill_pages(Mapping& m, Fetch& f, uint64_t upto);
  void zero_past_object_end(const Mapping& m, Fetch& f, uint64_t upto);
  void release_waiters(Mapping& m, uint64_t first, uint64_t end, Clock::time_point now);
  uint64_t fill_run(Mapping& m, uint64_t page, const uint8_t* src, uint64_t count,
                    uint64_t keep_newest_pages);
  bool yield_memory_to_kernel(uint64_t keep_newest_pages);
  // Gives back part of a limit the kernel made the engine lower (see MemoryLimitGovernor).
  void recover_memory_limit();
  // memory_pressure_watch.cpp: while the limit is lowered, a task of the process waiting in the
  // kernel for memory (v1 memory.oom_control's under_oom) makes the engine give memory back.
  void watch_tasks_waiting_on_memory();
  void open_oom_control_files();
  void free_memory_for_waiting_tasks();
  std::unique_ptr<boost::asio::steady_timer> oom_watch_timer;
  std::vector<int> oom_control_fds;
  int oom_watch_failed_opens = 0;
  bool oom_watch_given_up = false;
  bool oom_watch_armed = false;
  void fail_unfilled(Mapping& m, uint64_t first, uint64_t count);
  // fill_pages, or for a background GET, store_in_cache.
  void deliver_pages(Mapping& m, Fetch& f, uint64_t upto);
  void store_in_cache(Mapping& m, Fetch& f, uint64_t upto);
  // An adopted background GET fills the kInFlight pages of [from, upto) (indexes into the part).
  void fill_adopted(Mapping& m, Fetch& f, uint64_t from, uint64_t upto);
  // The background GET whose part holds `page` and has not delivered it yet, if one does.
  Fetch* background_fetch_bringing(Mapping& m, uint64_t page);
  // Fills [first, first + count) from the disk cache; returns how many pages it filled (fewer
  // only if the cache file failed, which turns the cache off).
  uint64_t fill_from_cache(Mapping& m, uint64_t first, uint64_t count);
  // Starts background GETs of the cache prefetch while the budget allows.
  void pump_cache_prefetch(Mapping& m);
  // `pump`: a failed background GET starts the next one (not when it failed to start at all).
  void fail_fetch(Mapping& m, const std::shared_ptr<Fetch>& fetch, const std::string& why,
                  bool mapping_wide, bool pump = true);
  void poison_pages(Mapping& m, uint64_t first, uint64_t count);
  void raise_sigbus_on(uint64_t addr, uint64_t len);
  void release_fetch(Mapping* m, const std::shared_ptr<Fetch>& fetch);
  void note_resident(Mapping& m, uint64_t first, uint64_t count);
  void evict_for(uint64_t bytes_needed, uint64_t keep_newest_pages = 0);
  void make_room_for_fill(uint64_t pages, uint64_t keep_newest_pages);
  // MADV_DONTNEED on the resident pages of [first, end); returns how many were dropped.
  uint64_t drop_resident(Mapping& m, uint64_t first, uint64_t end);
  // A page-aligned staging buffer of at least `bytes`, or nullptr when the kernel refuses one.
  uint8_t* take_buffer(uint64_t bytes);
  void give_buffer(uint8_t* p, uint64_t bytes);
  static uint64_t buffer_class(uint64_t bytes);
  // The staging a fetch of `pages` holds: its size class, at most one ring.
  static uint64_t staging_bytes(uint64_t pages);
  bool has_spare_buffer(uint64_t bytes) const;
  // Unmaps pooled buffers worth `bytes`, none of class `except_class` and not the last one of
  // class `keep_one_of_class` (0: no such class).
  void trim_spare_buffers(uint64_t bytes, uint64_t except_class = 0, uint64_t keep_one_of_class = 0);
  uint64_t memory_in_use() const;
  Clock::duration backoff(int attempt) const;

  control::EngineConfig config;
  // The limit in force: config.memory_limit unless the kernel refused memory (ENOMEM).
  control::MemoryLimitGovernor memory_limit;
  uffd::Userfaultfd uffd;
  std::unique_ptr<boost::asio::io_context> io;
  std::unique_ptr<boost::asio::ssl::context> tls;
  std::unique_ptr<boost::asio::posix::stream_descriptor> uffd_reader;
  std::array<uffd_msg, 64> msgs{};
  int uffd_read_interruptions = 0;  // consecutive EINTRs of the io_uring read of the uffd
  std::thread thread;
  std::atomic<pid_t> engine_tid{0};  // the engine thread's id: it must never wait on itself

  std::map<uint64_t, uint64_t> by_address;  // base → mapping id
  std::unordered_map<uint64_t, std::unique_ptr<Mapping>> mappings;
  std::unordered_map<std::string, std::unique_ptr<net::ConnectionPool>> pools;
  uint64_t next_mapping_id = 1;
  uint64_t requests_in_flight = 0;

  control::FillOrder fill_order;  // eviction takes the oldest fills first
  // idle_reclaim.cpp: every few seconds, pools no mapping used for a while are dropped and spare
  // staging buffers nothing took for a while are unmapped.
  void start_idle_reclaim();
  void reclaim_idle(Clock::time_point now);
  std::unique_ptr<boost::asio::steady_timer> reclaim_timer;
  std::unordered_map<const net::ConnectionPool*, Clock::time_point> pool_idle_since;
  Clock::time_point last_buffer_taken{};
  std::unordered_map<uint64_t, std::vector<uint8_t*>> spare_buffers;  // by size
  uint64_t spare_bytes = 0;

  Counters totals;
};

// A mapping being opened: the probe, redirects and retries, then the caller's answer. A job
// dropped unanswered (a handler that owned it gone without answering) still answers, with an
// error: the caller of mmap_s3 waits on it.
struct OpenJob {
  ~OpenJob();
  std::string url;
  std::promise<MapOutcome> promise;
  bool answered = false;
  std::unique_ptr<source::ObjectSource> source;
  int redirects = 0;
  int attempts = 0;
  Clock::time_point started;
  uint8_t* probe = nullptr;  // staging for the first range, config.probe_bytes long
  uint64_t probe_len = 0;    // bytes of the object it holds
  bool whole_object = false; // the server ignored Range but the object fit in the probe
  bool asked_size = false;   // a HEAD was sent after a 416
};

}  // namespace mmapurl::core
