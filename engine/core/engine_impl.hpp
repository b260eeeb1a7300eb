// EngineImpl: the engine's state, owned by its single event-loop thread. Two files implement
// it: engine.cpp (start, mapping, unmapping, hints, stats) and fault_service.cpp (faults,
// fetches, fills, retries, eviction).
#pragma once

#include <linux/userfaultfd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>

#include "control/engine_config.hpp"
#include "control/memory_limit_governor.hpp"
#include "core/engine.hpp"
#include "core/mapping.hpp"
#include "uffd/userfaultfd.hpp"

namespace mmapurl::core {

struct OpenJob;

class EngineImpl {
 public:
  EngineImpl() = default;
  bool start(MapOutcome* failure);

  // Called on the engine thread.
  void begin_open(std::shared_ptr<OpenJob> job);
  void finish_open(std::shared_ptr<OpenJob> job, MapOutcome outcome);
  void create_mapping(std::shared_ptr<OpenJob> job);
  void ask_size(std::shared_ptr<OpenJob> job, net::RequestSpec request);
  int unmap_now(uint64_t addr);
  int advise_now(uint64_t addr, uint64_t len, int advice);
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
  void on_fault(const uffd_msg& msg);
  void plan_and_schedule(Mapping& m, uint64_t page, uint64_t stream, control::FaultKind kind);
  void schedule_range(Mapping& m, const control::FetchRange& range);
  void start_fetch(Mapping& m, std::shared_ptr<Fetch> fetch);
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
  void fail_fetch(Mapping& m, const std::shared_ptr<Fetch>& fetch, const std::string& why, bool mapping_wide);
  void poison_pages(Mapping& m, uint64_t first, uint64_t count);
  void release_fetch(Mapping* m, const std::shared_ptr<Fetch>& fetch);
  void note_resident(Mapping& m, uint64_t first, uint64_t count);
  void evict_for(uint64_t bytes_needed, uint64_t keep_newest_pages = 0);
  void make_room_for_fill(uint64_t pages, uint64_t keep_newest_pages);
  // MADV_DONTNEED on the resident pages of [first, end); returns how many were dropped.
  uint64_t drop_resident(Mapping& m, uint64_t first, uint64_t end);
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

  std::map<uint64_t, uint64_t> by_address;  // base → mapping id
  std::unordered_map<uint64_t, std::unique_ptr<Mapping>> mappings;
  std::unordered_map<std::string, std::unique_ptr<net::ConnectionPool>> pools;
  uint64_t next_mapping_id = 1;
  uint64_t requests_in_flight = 0;

  struct FilledSegment {
    uint64_t mapping_id, first_page, count;
  };
  std::deque<FilledSegment> fill_order;  // eviction walks it oldest first
  std::unordered_map<uint64_t, std::vector<uint8_t*>> spare_buffers;  // by size
  uint64_t spare_bytes = 0;

  Counters totals;
};

// A mapping being opened: the probe, redirects and retries, then the caller's answer.
struct OpenJob {
  std::string url;
  std::promise<MapOutcome> promise;
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
