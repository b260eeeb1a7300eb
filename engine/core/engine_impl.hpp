// EngineImpl: the engine's state, owned by its single event-loop thread, and the jobs that run
// on it, one file each:
//   engine.cpp              start-up, the thread, calls posted from application threads
//   opener.cpp              the open state machine: probe, redirects, 416 + HEAD, retries
//   mapping_lifecycle.cpp   a mapping's birth (region, registry, probe bytes), unmap and advice
//   kept_cache.cpp          opening, saving and pruning disk caches
//   fault_dispatch.cpp      reading userfaultfd events, one decision per page state
//   fetch_scheduler.cpp     ranges → GETs: parts, budget, retries, failures
//   background_download.cpp MMAPURL_CACHE_PREFETCH=whole and the adoption of its GETs
//   page_filler.cpp         every way pages reach the mapping, over runs of a staging ring
//   memory_keeper.cpp       the memory limit: staging, eviction, ENOMEM from the kernel
//   read_service.cpp, idle_reclaim.cpp, memory_pressure_watch.cpp
// State below is grouped by the job that owns it; every job runs on the engine thread.
#pragma once

#include <linux/userfaultfd.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "control/engine_config.hpp"
#include "control/fill_order.hpp"
#include "control/memory_budget.hpp"
#include "control/retry_policy.hpp"
#include "core/contain.hpp"
#include "core/engine.hpp"
#include "core/mapping.hpp"
#include "core/mapping_registry.hpp"
#include "core/staging_pool.hpp"
#include "uffd/userfaultfd.hpp"

namespace mmapurl::core {

struct OpenJob;

class EngineImpl {
 public:
  EngineImpl() = default;
  bool start(MapOutcome* failure);
  net::ConnectionPool* pool_for(const net::Origin& origin);

  // opener.cpp. run_open: begin_open with its errors contained (whatever it throws fails the
  // open, never strands it).
  void run_open(std::shared_ptr<OpenJob> job);
  void begin_open(std::shared_ptr<OpenJob> job);
  std::optional<net::BodyTarget> take_probe_answer(OpenJob& job, const net::ResponseHead& head,
                                                   std::string* reject,
                                                   source::SourceError* refusal);
  void on_probe_complete(const std::shared_ptr<OpenJob>& job, source::SourceError refusal,
                         net::ExchangeResult&& r);
  void follow_redirect(const std::shared_ptr<OpenJob>& job, const net::ResponseHead& head);
  void on_range_not_satisfiable(const std::shared_ptr<OpenJob>& job, const net::ResponseHead& head);
  void ask_size(std::shared_ptr<OpenJob> job, net::RequestSpec request);
  void on_size_answer(const std::shared_ptr<OpenJob>& job, net::ExchangeResult&& r);
  // Opens again after a backoff if the retry policy allows it; else fails the open.
  void retry_open_or_fail(const std::shared_ptr<OpenJob>& job, control::AttemptFailure failure,
                          const std::string& why);
  // Answers the caller once; later answers (a failure contained after success) are dropped.
  void finish_open(std::shared_ptr<OpenJob> job, MapOutcome outcome);
  void fail_open(const std::shared_ptr<OpenJob>& job, Contained failure);

  // mapping_lifecycle.cpp
  void create_mapping(std::shared_ptr<OpenJob> job);
  // The mapping's records, in the registry. Throws std::bad_alloc with nothing registered and
  // the job's source still the job's.
  Mapping* add_mapping(OpenJob& job, uint64_t base, uint64_t length, uint64_t pages);
  // The probe's bytes are the object's first pages: filled at once, no fault needed.
  void fill_probe(Mapping& m, OpenJob& job);
  control::PlannerConfig planner_config() const;
  int unmap_now(uint64_t addr);
  int advise_now(uint64_t addr, uint64_t len, int advice);

  // kept_cache.cpp
  std::unique_ptr<cache::DiskCache> open_cache(const source::ObjectSource& source,
                                               const source::ObjectIdentity& id, uint64_t pages);
  // Saves (or, too large, discards) a kept cache; false when the mapping has none.
  bool save_kept_cache(Mapping& m);
  void prune_kept_caches();

  // fault_dispatch.cpp
  void read_faults();
  void drain_faults();
  void serve_faults(size_t bytes_read);
  void retry_read_faults_later(boost::system::error_code ec);
  void serve_fault(const uffd_msg& msg);
  void on_fault(const uffd_msg& msg);
  // A held-back readahead marker page goes into the mapping; false if the kernel refused it
  // (the page is then kAbsent again).
  bool fill_marker(Mapping& m, uint64_t page);
  // Fetches owning a page of [first, end) become urgent, and fill what they hold back now.
  void hurry_fetches(Mapping& m, uint64_t first, uint64_t end);
  void plan_and_schedule(Mapping& m, uint64_t page, uint64_t stream, control::FaultKind kind);

  // fetch_scheduler.cpp
  void schedule_range(Mapping& m, const control::FetchRange& range);
  // The pages of the kAbsent run [p, p + run) the memory budget lets one GET take now, once
  // what can go has gone: all of them; for a thread that waits possibly fewer (then `*last`);
  // for readahead none (held back).
  uint64_t fit_in_budget(Mapping& m, uint64_t p, uint64_t run, bool demand, bool* last);
  void launch_fetch(Mapping& m, FetchPurpose purpose, uint64_t first, uint64_t count,
                    uint64_t marker_page);
  // Starts (or restarts) a GET of the fetch's part; a staging buffer the kernel refuses fails
  // the fetch at once, as a request that failed for good would.
  void start_fetch(Mapping& m, std::shared_ptr<Fetch> fetch);
  std::shared_ptr<net::Exchange> make_exchange(Mapping& m, const std::shared_ptr<Fetch>& fetch);
  std::optional<net::BodyTarget> take_range_answer(Fetch& fetch, const net::ResponseHead& head,
                                                   uint64_t first, uint64_t last,
                                                   std::string* reject);
  // Fills what arrived when worth it; returns the body bytes done with (free in the ring).
  uint64_t on_fetch_progress(const std::shared_ptr<Fetch>& fetch, uint64_t received);
  void on_fetch_complete(const std::shared_ptr<Fetch>& fetch, net::ExchangeResult&& result);
  void retry_fetch(Mapping& m, const std::shared_ptr<Fetch>& fetch, Clock::duration delay,
                   const std::string& why);
  // `pump`: a failed background GET starts the next one (not when it failed to start at all).
  void fail_fetch(Mapping& m, const std::shared_ptr<Fetch>& fetch, const std::string& why,
                  bool mapping_wide, bool pump = true);
  // A fetch whose handler threw: fails what it still owns, if its mapping still has it.
  void fail_contained_fetch(const std::shared_ptr<Fetch>& fetch, Contained failure);
  void release_fetch(Mapping* m, const std::shared_ptr<Fetch>& fetch);

  // background_download.cpp
  // Starts background GETs of the whole-object download while the budget allows.
  void pump_cache_prefetch(Mapping& m);
  // The background GET whose part holds `page` and has not delivered it yet, if one does.
  Fetch* background_fetch_bringing(Mapping& m, uint64_t page);
  // A plan ran into pages a background GET brings: it takes them over (readahead, or a thread
  // close enough to what has arrived). Returns where the plan goes on, or `p` if not taken.
  uint64_t adopt_background_run(Mapping& m, uint64_t p, uint64_t end, bool demand);
  void hold_ready_connections(Mapping& m, bool hold);

  // page_filler.cpp
  // fill_pages, or for a background GET, store_in_cache (and its adopted runs).
  void deliver_pages(Mapping& m, Fetch& f, uint64_t upto);
  void fill_pages(Mapping& m, Fetch& f, uint64_t upto);
  void fill_adopted(Mapping& m, Fetch& f, uint64_t from, uint64_t upto);
  void store_in_cache(Mapping& m, Fetch& f, uint64_t upto);
  // Fills [first, first + count) from the disk cache; returns how many pages it filled (fewer
  // only if the cache file failed, which turns the cache off).
  uint64_t fill_from_cache(Mapping& m, uint64_t first, uint64_t count);
  uint64_t fill_run(Mapping& m, uint64_t page, const uint8_t* src, uint64_t count,
                    uint64_t keep_newest_pages);
  void zero_past_object_end(const Mapping& m, Fetch& f, uint64_t upto);
  void release_waiters(Mapping& m, uint64_t first, uint64_t end, Clock::time_point now);
  void fail_unfilled(Mapping& m, uint64_t first, uint64_t count);
  void poison_pages(Mapping& m, uint64_t first, uint64_t count);
  void note_resident(Mapping& m, uint64_t first, uint64_t count);

  // memory_keeper.cpp
  // Resident pages, staging of requests in flight and pooled staging: what the budget bounds.
  uint64_t memory_in_use() const;
  // A page-aligned staging buffer of at least `bytes`, or nullptr when the kernel refuses one.
  uint8_t* take_staging(uint64_t bytes);
  void give_staging(uint8_t* p, uint64_t bytes);
  // The staging a fetch of `pages` holds: its size class, at most one ring.
  static uint64_t staging_bytes(uint64_t pages);
  // Frees what `bytes` more staging for `use` needs under the budget; true when it fits.
  bool make_room_for_staging(uint64_t bytes, control::MemoryUse use);
  // Evicts before UFFDIO_COPY so that a fill never takes the process past the limit.
  void make_room_for_fill(uint64_t pages, uint64_t keep_newest_pages);
  void evict_for(uint64_t bytes_needed, uint64_t keep_newest_pages = 0);
  // MADV_DONTNEED on the resident pages of [first, end); returns how many were dropped.
  uint64_t drop_resident(Mapping& m, uint64_t first, uint64_t end);
  bool yield_memory_to_kernel(uint64_t keep_newest_pages);
  // Gives back part of a limit the kernel made the engine lower (see MemoryBudget).
  void recover_memory_limit();

  // read_service.cpp: fetches what a read needs of [addr, addr + len) and answers `watch` once
  // no page of it is in flight.
  void prepare_read(uint64_t addr, uint64_t len, uint64_t stream, std::shared_ptr<ReadWatch> watch);
  // Answers the reads of `m` whose ranges have settled (all of them when `gone`).
  void settle_reads(Mapping& m, bool gone = false);

  // idle_reclaim.cpp: every few seconds, pools no mapping used for a while are dropped and
  // spare staging buffers nothing took for a while are unmapped.
  void start_idle_reclaim();
  void reclaim_idle(Clock::time_point now);

  // memory_pressure_watch.cpp: while the limit is lowered, a task of the process waiting in the
  // kernel for memory (v1 memory.oom_control's under_oom) makes the engine give memory back.
  void watch_tasks_waiting_on_memory();
  void open_oom_control_files();
  void free_memory_for_waiting_tasks();

  // Start-up and the thread (engine.cpp).
  control::EngineConfig config;
  uffd::Userfaultfd uffd;
  std::unique_ptr<boost::asio::io_context> io;
  std::unique_ptr<boost::asio::ssl::context> tls;
  std::thread thread;
  std::atomic<pid_t> engine_tid{0};  // the engine thread's id: it must never wait on itself
  Counters totals;

  // Fault intake (fault_dispatch.cpp).
  std::unique_ptr<boost::asio::posix::stream_descriptor> uffd_reader;
  std::array<uffd_msg, 64> msgs{};
  int uffd_read_interruptions = 0;  // consecutive EINTRs of the io_uring read of the uffd

  // Mappings and origins.
  MappingRegistry registry;
  std::unordered_map<std::string, std::unique_ptr<net::ConnectionPool>> pools;

  // Fetching (fetch_scheduler.cpp).
  control::RetryPolicy retry_policy;
  std::minstd_rand retry_jitter{std::random_device{}()};
  uint64_t requests_in_flight = 0;

  // Memory (memory_keeper.cpp): the limit in force, the pool, and the order of fills.
  control::MemoryBudget budget;
  StagingPool staging;
  control::FillOrder fill_order;  // eviction takes the oldest fills first

  // Idle release (idle_reclaim.cpp).
  std::unique_ptr<boost::asio::steady_timer> reclaim_timer;
  std::unordered_map<const net::ConnectionPool*, Clock::time_point> pool_idle_since;

  // Tasks waiting on memory (memory_pressure_watch.cpp).
  std::unique_ptr<boost::asio::steady_timer> oom_watch_timer;
  std::vector<int> oom_control_fds;
  int oom_watch_failed_opens = 0;
  bool oom_watch_given_up = false;
  bool oom_watch_armed = false;
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
  int attempts = 0;  // failed attempts so far
  Clock::time_point started;
  uint8_t* probe = nullptr;   // staging for the first range, config.probe_bytes long
  uint64_t probe_len = 0;     // bytes of the object it holds
  bool whole_object = false;  // the server ignored Range but the object fit in the probe
  bool asked_size = false;    // a HEAD was sent after a 416
};

}  // namespace mmapurl::core
