// A mapping's life: its address range reserved and registered, its records in the registry, its
// first pages filled from the probe; the user's advice; and unmapping, which answers what still
// waits on it and forgets everything the engine kept for it.
#include <cerrno>
#include <cstring>

#include "control/part_sizing.hpp"
#include "core/engine_impl.hpp"
#include "base/log.hpp"
#include "mmapurl.h"
#include "uffd/object_region.hpp"

namespace mmapurl::core {

using control::PageState;

void EngineImpl::create_mapping(std::shared_ptr<OpenJob> job) {
  MapOutcome out;
  const source::ObjectIdentity& id = job->source->identity();
  if (id.size > config.max_object_bytes) {
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = EFBIG;
    out.message = job->source->describe() + ": the server says the object has " +
                  std::to_string(id.size) + " bytes, more than MMAPURL_MAX_OBJECT_SIZE (" +
                  std::to_string(config.max_object_bytes) + ")";
    return finish_open(job, std::move(out));
  }
  const uint64_t pages = (id.size + kPageSize - 1) / kPageSize;
  const uint64_t length = pages * kPageSize;
  uint64_t base = 0;
  std::string call;
  if (int e = uffd::reserve_object_region(uffd, length, &base, &call)) {
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = e;
    out.message = call + ": " + std::strerror(e);
    return finish_open(job, std::move(out));
  }
  Mapping* m = nullptr;
  try {
    m = add_mapping(*job, base, length, pages);
  } catch (const std::bad_alloc&) {
    // The page table of a huge object: one failed mapping, never a stranded caller.
    uffd::release_object_region(uffd, base, length);
    out.code = MMAP_S3_ERRNO;
    out.sys_errno = ENOMEM;
    out.message = job->source->describe() + ": no memory for the state of " +
                  std::to_string(pages) + " pages";
    return finish_open(job, std::move(out));
  }
  fill_probe(*m, *job);
  pump_cache_prefetch(*m);
  m->counters.requests.fetch_add(1, std::memory_order_relaxed);
  m->counters.bytes_fetched.fetch_add(job->probe_len, std::memory_order_relaxed);
  MMAPURL_LOG(LogLevel::kInfo,
              "mapped " + m->source->describe() + " (" + std::to_string(m->size) + " bytes, etag " +
                  (m->source->identity().etag.empty() ? "none" : m->source->identity().etag) + ")");
  out.addr = reinterpret_cast<void*>(base);
  out.size = m->size;
  finish_open(job, std::move(out));
}

Mapping* EngineImpl::add_mapping(OpenJob& job, uint64_t base, uint64_t length, uint64_t pages) {
  auto m = std::make_unique<Mapping>(pages, planner_config());
  m->pool = pool_for(job.source->origin());
  if (!config.cache_dir.empty() && pages > 0)
    m->cache = open_cache(*job.source, job.source->identity(), pages);
  m->base = base;
  m->length = length;
  m->size = job.source->identity().size;
  Mapping& added = registry.add(std::move(m));
  added.source = std::move(job.source);
  return &added;
}

void EngineImpl::fill_probe(Mapping& m, OpenJob& job) {
  if (job.probe_len == 0) return;
  const uint64_t probe_pages = (job.probe_len + kPageSize - 1) / kPageSize;
  std::memset(job.probe + job.probe_len, 0, probe_pages * kPageSize - job.probe_len);
  if (m.cache) m.cache->store(0, job.probe, probe_pages);
  if (uffd.copy(m.base, job.probe, probe_pages * kPageSize) == 0) {
    m.pages.set_range(0, probe_pages, PageState::kResident);
    note_resident(m, 0, probe_pages);
    m.planner.note_prefilled(0, probe_pages);
  }
}

control::PlannerConfig EngineImpl::planner_config() const {
  control::PlannerConfig pc;
  pc.random_fetch_pages = config.random_fetch_bytes / kPageSize;
  // From the configured limit, not a lowered one: a lowered limit rises again (MemoryBudget),
  // and until it has, the budget holds readahead under it for every mapping alike.
  pc.max_window_pages =
      control::readahead_window_cap_bytes(budget.configured(), config.max_readahead_bytes) /
      kPageSize;
  pc.initial_window_pages =
      std::min<uint64_t>(pc.max_window_pages, std::max<uint64_t>(64, pc.random_fetch_pages));
  // x4 rather than x2: half the round trips to reach the full window (docs/decisions/0002).
  pc.window_growth = 4;
  return pc;
}

int EngineImpl::unmap_now(uint64_t addr) {
  Mapping* found = registry.at_base(addr);
  if (!found) return -1;
  Mapping& m = *found;
  // Queued requests are dropped; running ones finish and find no mapping (discarded).
  std::vector<std::shared_ptr<Fetch>> fetches(m.fetches.begin(), m.fetches.end());
  for (const auto& fetch : fetches) {
    if (m.pool->withdraw(fetch->exchange)) {
      --requests_in_flight;  // it will never complete
      release_fetch(&m, fetch);
    }
  }
  settle_reads(m, /*gone=*/true);
  hold_ready_connections(m, false);  // its download ends
  if (save_kept_cache(m)) prune_kept_caches();
  uffd::release_object_region(uffd, m.base, m.length);
  totals.resident_bytes.fetch_sub(m.counters.resident_bytes.load(), std::memory_order_relaxed);
  fill_order.forget_mapping(m.id);
  registry.erase(m.id);
  return 0;
}

int EngineImpl::advise_now(uint64_t addr, uint64_t len, int advice) {
  Mapping* m = registry.find(addr);
  // Compared without forming addr + len: a huge len would wrap it past the check.
  if (!m || m->length == 0 || len > m->base + m->length - addr) return -1;
  const uint64_t first = (addr - m->base) / kPageSize;
  const uint64_t last = (addr + len + kPageSize - 1 - m->base) / kPageSize;
  switch (advice) {
    case 0:
      m->planner.set_hint(control::AccessHint::kNormal);
      return 0;
    case 1:
      m->planner.set_hint(control::AccessHint::kSequential);
      return 0;
    case 2:
      m->planner.set_hint(control::AccessHint::kRandom);
      return 0;
    case 3: {
      control::FetchRange r;
      r.first_page = first;
      r.page_count = last - first;
      schedule_range(*m, r);
      return 0;
    }
    case 4:
      drop_resident(*m, first, last);
      fill_order.forget_range(m->id, first, last);
      return 0;
    default:
      return -1;
  }
}

}  // namespace mmapurl::core
