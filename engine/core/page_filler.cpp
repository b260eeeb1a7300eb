// Every way pages reach a mapping: a fetch's body from its staging ring (its own part, or the
// runs of a background GET a reader adopted), the disk cache, a held-back marker page, the
// probe. Each ends in fill_run: room made under the memory limit, one UFFDIO_COPY (which wakes
// the threads asleep on the pages), the pages counted resident. And the ways pages fail.
#include <cstring>

#include "base/log.hpp"
#include "core/engine_impl.hpp"
#include "uffd/object_region.hpp"

namespace mmapurl::core {

using control::PageState;

namespace {
constexpr uint64_t kCacheChunkBytes = 128 * 1024;
// Held-back marker pages are heap copies outside the memory budget, one per readahead window
// whose marker nobody touched: a mapping holds at most this many (256 KiB). Past it a marker page
// is filled like its neighbours, and the planner learns the reader's progress from its next miss
// instead (control/prefetch_planner.hpp).
constexpr size_t kMaxHeldMarkers = 64;

// Calls fn(index, count) for each stretch of [from, upto) (page indexes into the fetch's part)
// that lies contiguous in its staging ring: split only where the ring wraps.
template <class Fn>
void for_each_ring_run(const Fetch& f, uint64_t from, uint64_t upto, Fn&& fn) {
  for (uint64_t p = from; p < upto;) {
    const uint64_t q = std::min(upto, p + (f.ring_pages - p % f.ring_pages));
    fn(p, q - p);
    p = q;
  }
}

// Writes fetched pages to the mapping's disk cache, if it has one; says so once when the cache
// file fails (the mapping goes on without it).
void keep_in_cache(Mapping& m, uint64_t first_page, const uint8_t* data, uint64_t count) {
  if (!m.cache || !m.cache->usable()) return;
  if (!m.cache->store(first_page, data, count)) {
    MMAPURL_LOG(LogLevel::kError, m.source->describe() + ": disk cache off: " + m.cache->error());
  }
}
}  // namespace

void EngineImpl::deliver_pages(Mapping& m, Fetch& f, uint64_t upto) {
  if (!f.background()) return fill_pages(m, f, upto);
  const uint64_t from = f.copied_pages;
  store_in_cache(m, f, upto);
  if (!f.adopted.empty()) fill_adopted(m, f, from, upto);
}

// A reader's fetch: [copied_pages, upto) of its part into the mapping and the disk cache. The
// readahead marker page is held back (its bytes kept aside) unless a thread already waits on it
// or the mapping holds its share of markers: the fault it takes when touched tells the planner
// the reader got there.
void EngineImpl::fill_pages(Mapping& m, Fetch& f, uint64_t upto) {
  zero_past_object_end(m, f, upto);
  const auto now = Clock::now();
  const uint64_t from = f.copied_pages;
  auto fill = [&](uint64_t a, uint64_t b) {
    for_each_ring_run(f, a, b, [&](uint64_t p, uint64_t n) {
      fill_run(m, f.first_page + p, f.staging_page(p), n, /*keep_newest_pages=*/p - from);
      keep_in_cache(m, f.first_page + p, f.staging_page(p), n);
    });
  };
  const bool marker_here = f.marker_page != control::FetchRange::kNoMarker &&
                           f.marker_page >= f.first_page + from &&
                           f.marker_page < f.first_page + upto;
  if (!marker_here) {
    fill(from, upto);
  } else {
    const uint64_t q = f.marker_page - f.first_page;
    fill(from, q);
    keep_in_cache(m, f.marker_page, f.staging_page(q), 1);
    if (m.waiters.count(f.marker_page) || m.markers.size() >= kMaxHeldMarkers) {
      fill_run(m, f.marker_page, f.staging_page(q), 1, /*keep_newest_pages=*/q - from);
    } else {
      auto held = std::make_unique<uint8_t[]>(kPageSize);
      std::memcpy(held.get(), f.staging_page(q), kPageSize);
      m.markers[f.marker_page] = std::move(held);
      m.pages.set(f.marker_page, PageState::kMarker);
    }
    fill(q + 1, upto);
  }
  release_waiters(m, f.first_page + from, f.first_page + upto, now);
  f.copied_pages = upto;
}

// An adopted background GET fills the kInFlight pages of [from, upto) (indexes into the part)
// that its adopted runs cover, and wakes only their waiters: other pages inside the part belong
// to other fetches, whose threads must stay waiting (and be seen waiting) until those fill them.
void EngineImpl::fill_adopted(Mapping& m, Fetch& f, uint64_t from, uint64_t upto) {
  const auto now = Clock::now();
  for (const auto& [first, end] : f.adopted) {
    const uint64_t a = std::max(from, first - f.first_page);
    const uint64_t b = std::min(upto, end - f.first_page);
    for_each_ring_run(f, a, b, [&](uint64_t p, uint64_t n) {
      const uint64_t page = f.first_page + p;
      fill_run(m, page, f.staging_page(p), n, /*keep_newest_pages=*/p - a);
      release_waiters(m, page, page + n, now);
    });
  }
}

void EngineImpl::store_in_cache(Mapping& m, Fetch& f, uint64_t upto) {
  zero_past_object_end(m, f, upto);
  for_each_ring_run(f, f.copied_pages, upto, [&](uint64_t p, uint64_t n) {
    keep_in_cache(m, f.first_page + p, f.staging_page(p), n);
  });
  f.copied_pages = upto;
}

uint64_t EngineImpl::fill_from_cache(Mapping& m, uint64_t first, uint64_t count) {
  const uint64_t chunk_pages = kCacheChunkBytes / kPageSize;
  uint8_t* buffer = take_staging(kCacheChunkBytes);
  if (!buffer) return 0;  // the pages are fetched from the network instead
  const auto now = Clock::now();
  uint64_t done = 0;
  while (done < count) {
    const uint64_t n = std::min(chunk_pages, count - done);
    if (!m.cache->load(first + done, buffer, n)) {
      MMAPURL_LOG(LogLevel::kError, m.source->describe() + ": disk cache off: " + m.cache->error());
      break;
    }
    // Pages the kernel refused are failed or forgotten by fill_run: done with them too.
    const uint64_t filled = fill_run(m, first + done, buffer, n, /*keep_newest_pages=*/done);
    m.counters.cache_filled_pages.fetch_add(filled, std::memory_order_relaxed);
    totals.cache_filled_pages.fetch_add(filled, std::memory_order_relaxed);
    done += n;
  }
  give_staging(buffer, kCacheChunkBytes);
  release_waiters(m, first, first + done, now);
  return done;
}

// Makes room (never evicting the newest `keep_newest_pages` fills), copies `count` pages from
// `src` into the mapping at `page` and counts them resident; returns how many it filled. Pages
// the kernel will not take are never counted resident: a thread waiting on one would fault, be
// woken as if it were filled, and fault again, for ever.
uint64_t EngineImpl::fill_run(Mapping& m, uint64_t page, const uint8_t* src, uint64_t count,
                              uint64_t keep_newest_pages) {
  make_room_for_fill(count, keep_newest_pages);
  uint64_t filled = 0;
  for (;;) {
    uint64_t copied = 0;
    const int e = uffd.copy(m.base + (page + filled) * kPageSize, src + filled * kPageSize,
                            (count - filled) * kPageSize, /*wake=*/true, &copied);
    // The range is gone (the program unmapped it itself): nobody can wait on these pages.
    const uint64_t done = e == ENOENT || e == ESRCH ? count - filled : copied / kPageSize;
    if (done > 0) {
      m.pages.set_range(page + filled, done, PageState::kResident);
      note_resident(m, page + filled, done);
      filled += done;
    }
    if (filled == count) return count;
    if (e == ENOMEM && yield_memory_to_kernel(keep_newest_pages + filled)) continue;
    MMAPURL_LOG(LogLevel::kError, m.source->describe() + ": pages " +
                                      std::to_string(page + filled) + "+" +
                                      std::to_string(count - filled) +
                                      " not filled: UFFDIO_COPY: " + std::strerror(e));
    fail_unfilled(m, page + filled, count - filled);
    return filled;
  }
}

// The object's last page: zero what lies past its end in staging (the buffer is reused).
void EngineImpl::zero_past_object_end(const Mapping& m, Fetch& f, uint64_t upto) {
  const uint64_t body_end = std::min<uint64_t>((f.first_page + f.page_count) * kPageSize, m.size);
  const uint64_t end_byte = (f.first_page + upto) * kPageSize;
  if (end_byte > body_end) {
    const uint64_t off = body_end - f.first_page * kPageSize;
    std::memset(f.staging_page(off / kPageSize) + off % kPageSize, 0, end_byte - body_end);
  }
}

// The faults on [first, end) are served: their latency counts from when they arrived.
void EngineImpl::release_waiters(Mapping& m, uint64_t first, uint64_t end, Clock::time_point now) {
  auto w = m.waiters.lower_bound(first);
  while (w != m.waiters.end() && w->first < end) {
    m.counters.record_latency(now - w->second);
    totals.record_latency(now - w->second);
    w = m.waiters.erase(w);
  }
  settle_reads(m);
}

// Pages a fill could not place: a waiting thread gets SIGBUS for its page, as for a failed
// request; pages nobody waits on are forgotten, and fetched again if touched.
void EngineImpl::fail_unfilled(Mapping& m, uint64_t first, uint64_t count) {
  for (uint64_t p = first; p < first + count; ++p) {
    if (m.waiters.count(p)) {
      poison_pages(m, p, 1);
    } else {
      m.pages.set(p, PageState::kAbsent);
    }
  }
  settle_reads(m);
}

void EngineImpl::poison_pages(Mapping& m, uint64_t first, uint64_t count) {
  for (uint64_t p = first; p < first + count; ++p) {
    if (m.pages.get(p) != PageState::kFailed) {
      m.pages.set(p, PageState::kFailed);
      m.counters.failed_pages.fetch_add(1, std::memory_order_relaxed);
      totals.failed_pages.fetch_add(1, std::memory_order_relaxed);
    }
    m.waiters.erase(p);
  }
  // Never leaves a thread asleep on a failed page (uffd/object_region.hpp says how).
  const int poison_error = uffd::fail_object_pages(uffd, m.base + first * kPageSize,
                                                   count * kPageSize, !config.disable_poison);
  if (poison_error != 0) {
    MMAPURL_LOG(LogLevel::kError, std::string("UFFDIO_POISON: ") + std::strerror(poison_error));
  }
  settle_reads(m);
}

void EngineImpl::note_resident(Mapping& m, uint64_t first, uint64_t count) {
  m.counters.resident_bytes.fetch_add(count * kPageSize, std::memory_order_relaxed);
  totals.resident_bytes.fetch_add(count * kPageSize, std::memory_order_relaxed);
  fill_order.note_filled(m.id, first, count);
  // A filled page is counted while its staging buffer still is: stay within the limit now, not
  // at the next request, but never by dropping what was just filled for a waiting thread.
  if (const uint64_t over = budget.over_limit(memory_in_use()))
    evict_for(over, /*keep_newest_pages=*/count);
}

}  // namespace mmapurl::core
