// The memory limit kept: what the engine holds (resident pages, staging in flight, pooled
// staging) stays under control::MemoryBudget's caps. Freeing goes one way only: trim pooled
// staging, then evict the oldest fills (control::FillOrder says which; drop_resident drops them).
// When the kernel grants less than the limit (ENOMEM), the limit is lowered and given back later.
#include <cerrno>
#include <cstring>

#include "core/engine_impl.hpp"
#include "base/log.hpp"
#include "uffd/object_region.hpp"

namespace mmapurl::core {

namespace {
// A part's body streams through a staging ring this large (smaller parts get their size class):
// half of it a fill batch, half room for the next read; small enough to stay in cache, and
// reused whole, so a scan does not map and page-fault a fresh buffer per part, and the memory
// limit is spent on pages rather than on staging. 512 KiB was no faster than 256, and 128 KiB no
// slower (1 GiB from loopback nginx) while a 16-connection scan holds 4 MiB less.
constexpr uint64_t kStagingRingBytes = 128 * 1024;
}  // namespace

uint64_t EngineImpl::memory_in_use() const {
  return totals.resident_bytes.load() + totals.in_flight_bytes.load() + staging.spare_bytes();
}

uint64_t EngineImpl::staging_bytes(uint64_t pages) {
  return std::min(StagingPool::size_class(pages * kPageSize), kStagingRingBytes);
}

// A new buffer's pages are charged before it is used (uffd::populate_staging says why); a
// refusal gives memory back and tries again while that frees anything.
uint8_t* EngineImpl::take_staging(uint64_t bytes) {
  const StagingPool::Taken t = staging.take(bytes, Clock::now());
  if (!t.buffer) {
    MMAPURL_LOG(LogLevel::kError, "mmap of a " + std::to_string(StagingPool::size_class(bytes)) +
                                      "-byte staging buffer: " + std::strerror(t.error));
    return nullptr;
  }
  if (t.fresh) {
    const uint64_t size = StagingPool::size_class(bytes);
    while (uffd::populate_staging(t.buffer, size) == ENOMEM &&
           yield_memory_to_kernel(/*keep_newest_pages=*/0)) {
    }
    totals.staging_buffers_mapped.fetch_add(1, std::memory_order_relaxed);
  }
  return t.buffer;
}

void EngineImpl::give_staging(uint8_t* p, uint64_t bytes) {
  staging.give(p, bytes, budget.spare_staging_cap());
}

// Pooled buffers of other sizes go first: they hold no data. Buffers of this request's size go
// last, after the oldest pages: the next parts of the window take them, and trimming them first
// made a scan at the limit pay an munmap, an mmap and a page fault per 4 KiB for every part. A
// pooled buffer of this class becomes the request's staging buffer: counted already, it does not
// count twice.
bool EngineImpl::make_room_for_staging(uint64_t bytes, control::MemoryUse use) {
  const uint64_t reused = staging.has_spare(bytes) ? bytes : 0;
  auto excess = [&] { return budget.excess(memory_in_use() - reused, bytes, use); };
  if (excess() == 0) return true;
  staging.trim(excess(), /*except_class=*/bytes);
  if (excess() > 0) evict_for(excess());
  if (excess() > 0) staging.trim(excess(), /*except_class=*/0, /*keep_one_of_class=*/reused);
  return excess() == 0;
}

// Evicts before UFFDIO_COPY rather than after: the kernel counts the new pages at once, and at
// the limit a fill must not push the process past it even for a moment.
void EngineImpl::make_room_for_fill(uint64_t pages, uint64_t keep_newest_pages) {
  recover_memory_limit();
  if (const uint64_t over = budget.over_limit(memory_in_use() + pages * kPageSize))
    evict_for(over, keep_newest_pages);
}

void EngineImpl::evict_for(uint64_t bytes_needed, uint64_t keep_newest_pages) {
  // Segments are trimmed from their front, so no more is dropped than asked, and the newest
  // `keep_newest_pages` pages (just filled for a waiting thread) stay.
  uint64_t freed = 0;
  while (freed < bytes_needed) {
    const uint64_t wanted = (bytes_needed - freed + kPageSize - 1) / kPageSize;
    const auto part = fill_order.take_oldest(wanted, keep_newest_pages);
    if (!part) break;
    Mapping* m = registry.by_id(part->mapping_id);
    if (!m) continue;
    const uint64_t dropped = drop_resident(*m, part->first_page, part->first_page + part->count);
    m->counters.evictions.fetch_add(dropped, std::memory_order_relaxed);
    totals.evictions.fetch_add(dropped, std::memory_order_relaxed);
    // Pages already gone (DONTNEED) free nothing but still use up the segment.
    freed += dropped * kPageSize;
  }
}

uint64_t EngineImpl::drop_resident(Mapping& m, uint64_t first, uint64_t end) {
  uint64_t dropped = 0;
  for (uint64_t p = first; p < end;) {
    const uint64_t run = m.pages.run_length(p, end - p, control::PageState::kResident);
    if (run == 0) {
      ++p;
      continue;
    }
    uffd::drop_object_pages(m.base + p * kPageSize, run * kPageSize);
    m.pages.set_range(p, run, control::PageState::kAbsent);
    m.counters.resident_bytes.fetch_sub(run * kPageSize, std::memory_order_relaxed);
    totals.resident_bytes.fetch_sub(run * kPageSize, std::memory_order_relaxed);
    dropped += run;
    p += run;
  }
  return dropped;
}

// The kernel refused memory (ENOMEM from UFFDIO_COPY or from charging staging): it gives this
// process less than MMAPURL_MEMORY_LIMIT (a memory cgroup's limit, a host short of memory). The
// limit drops to 7/8 of what the engine holds, never below 4 MiB, and what is over it is freed,
// so later fills and readahead stay under what the kernel grants; recover_memory_limit gives it
// back a second later, an eighth at a time. False when nothing could be freed.
bool EngineImpl::yield_memory_to_kernel(uint64_t keep_newest_pages) {
  const uint64_t used = memory_in_use();
  const uint64_t before = budget.limit();
  if (budget.refused(used, Clock::now())) {
    MMAPURL_LOG(LogLevel::kError, "the kernel refused memory with " + std::to_string(used >> 20) +
                                      " MiB in use: memory limit lowered from " +
                                      std::to_string(before >> 20) + " to " +
                                      std::to_string(budget.limit() >> 20) + " MiB");
  }
  watch_tasks_waiting_on_memory();
  if (used <= budget.limit()) return false;
  staging.trim(budget.over_limit(used));
  if (const uint64_t over = budget.over_limit(memory_in_use())) evict_for(over, keep_newest_pages);
  return memory_in_use() < used;
}

void EngineImpl::recover_memory_limit() {
  if (!budget.lowered() || !budget.recover(Clock::now())) return;
  MMAPURL_LOG(LogLevel::kInfo, "no memory refused for a while: memory limit raised to " +
                                   std::to_string(budget.limit() >> 20) + " MiB");
}

}  // namespace mmapurl::core
