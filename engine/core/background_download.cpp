// MMAPURL_CACHE_PREFETCH=whole: the whole object downloaded into the disk cache in the
// background, from its start, on the connections faults leave free; and adoption, by which a
// reader's plan takes over the pages such a GET already brings instead of asking for them again.
#include "control/part_sizing.hpp"
#include "core/engine_impl.hpp"

namespace mmapurl::core {

using control::PageState;

namespace {
// A thread waiting on a page a background GET brings waits for it if the page is this close to
// what has arrived (1 MiB: 20 ms at 50 MB/s, about one round trip of the S3-like profile).
constexpr uint64_t kAdoptDistancePages = 256;
}  // namespace

// One part per GET, on the connections the budget gives it; the pool runs faults first and
// keeps a connection free for them. Pages a request of the reader already brings are skipped:
// they are kept in the cache when filled.
void EngineImpl::pump_cache_prefetch(Mapping& m) {
  recover_memory_limit();
  const bool downloading = config.cache_prefetch_whole && m.cache && m.cache->usable() &&
                           m.broken.empty() && m.cache_cursor < m.pages.size();
  hold_ready_connections(m, downloading);
  if (!downloading) return;
  const uint32_t parallel = control::background_fetch_budget(config.connections);
  const uint64_t part_pages =
      std::max<uint64_t>(1, budget.part_bytes(config.part_bytes) / kPageSize);
  const uint64_t total = m.pages.size();
  while (m.background_fetches < parallel && m.cache_cursor < total) {
    uint64_t p = m.cache_cursor;
    while (p < total && (m.cache->has(p) || m.pages.get(p) != PageState::kAbsent)) ++p;
    m.cache_cursor = p;
    if (p >= total) break;
    const uint64_t run = std::min(m.cache->missing_run(p, part_pages),
                                  m.pages.run_length(p, part_pages, PageState::kAbsent));
    // Background staging stays inside the readahead share of the memory limit, evicting the
    // oldest fills as readahead does (a mapping larger than the limit sits at it); if nothing can
    // go, the next fetch to complete pumps again.
    const uint64_t bytes = staging_bytes(run);
    if (const uint64_t over = budget.excess(memory_in_use(), bytes, control::MemoryUse::kReadahead))
      evict_for(over);
    if (budget.excess(memory_in_use(), bytes, control::MemoryUse::kReadahead) > 0) break;
    m.cache_cursor = p + run;
    launch_fetch(m, FetchPurpose::kBackground, p, run, control::FetchRange::kNoMarker);
  }
  hold_ready_connections(m, m.cache_cursor < total);
}

Fetch* EngineImpl::background_fetch_bringing(Mapping& m, uint64_t page) {
  if (m.background_fetches == 0) return nullptr;
  for (const auto& f : m.fetches) {
    if (f->background() && page >= f->first_page + f->copied_pages &&
        page < f->first_page + f->page_count) {
      return f.get();
    }
  }
  return nullptr;
}

// Readahead takes a background GET's bytes rather than download them again (a scan with the
// whole-object prefetch fetched 1.5 GiB of 1 GiB); so does a thread that waits, if the page is
// at most a round trip's worth of bytes away from what has arrived (at 50 MB/s the end of an
// 8 MiB part is 160 ms off: a GET of its own costs one round trip).
uint64_t EngineImpl::adopt_background_run(Mapping& m, uint64_t p, uint64_t end, bool demand) {
  Fetch* bg = background_fetch_bringing(m, p);
  if (!bg) return p;
  const uint64_t arrived = bg->first_page + bg->copied_pages;
  if (demand && p - arrived > kAdoptDistancePages) return p;
  const uint64_t bg_end = std::min(end, bg->first_page + bg->page_count);
  for (uint64_t q = p; q < bg_end;) {
    const uint64_t absent = m.pages.run_length(q, bg_end - q, PageState::kAbsent);
    if (absent == 0) {
      ++q;
      continue;
    }
    m.pages.set_range(q, absent, PageState::kInFlight);
    bg->adopted.emplace_back(q, q + absent);
    q += absent;
  }
  if (demand) {
    bg->urgent = true;
    // The retry budget of a thread's pages starts now, not when the download asked.
    bg->started = Clock::now();
    m.pool->promote(bg->exchange);
  }
  return bg_end;
}

// The connections the download leaves to faults stay connected, ready for the first ones.
void EngineImpl::hold_ready_connections(Mapping& m, bool hold) {
  if (hold == m.holds_ready_connections) return;
  m.holds_ready_connections = hold;
  if (hold) {
    m.pool->hold_ready(config.connections - control::background_fetch_budget(config.connections));
  } else {
    m.pool->release_ready();
  }
}

}  // namespace mmapurl::core
