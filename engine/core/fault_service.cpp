// The fault path: read userfaultfd events through io_uring, plan fetches, run them on the
// connection pools, fill pages with UFFDIO_COPY as the body arrives, retry transient failures,
// poison pages that failed for good, and evict to stay inside the memory limit.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <random>

#include "control/part_sizing.hpp"
#include "core/engine_impl.hpp"
#include "core/log.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;
using control::FaultKind;
using control::PageState;

namespace {
// Fill as the body arrives, but in batches: one UFFDIO_COPY per 256 KiB, or half a staging ring,
// unless a thread waits.
constexpr uint64_t kFillBatchPages = 64;
// A part's body streams through a staging ring this large (smaller parts get their size class):
// half of it a fill batch, half room for the next read; small enough to stay in cache, and
// reused whole, so a scan no longer maps and page-faults a fresh 8 MiB buffer per part and the
// memory limit is spent on pages rather than on staging. 512 KiB was no faster than 256, and
// 128 KiB no slower (1 GiB from loopback nginx) while a 16-connection scan holds 4 MiB less.
constexpr uint64_t kStagingRingBytes = 128 * 1024;
constexpr uint64_t kSpareBufferLimit = 128ull << 20;
// What a waiting thread gets fetched even when the memory limit is reached (16 KiB).
constexpr uint64_t kMinDemandPages = 4;
// A thread waiting on a page a background GET brings waits for it if the page is this close to
// what has arrived (1 MiB: 20 ms at 50 MB/s, about one round trip of the S3-like profile).
constexpr uint64_t kAdoptDistancePages = 256;
// Smallest GET a readahead window is cut into to use several connections at once.
constexpr uint64_t kMinParallelPartBytes = 1ull << 20;

void bump_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
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

// Reads fault events with an io_uring read of the (non-blocking) userfaultfd. The kernel issues
// that read inline at submission, and a userfaultfd read fails with EINTR whenever this thread
// has io_uring task work pending (TIF_NOTIFY_SIGNAL counts as a pending signal), which is common
// on a busy engine thread. EINTR is retried at once: the task work runs on the way out of
// io_uring_enter, so the next attempt normally succeeds or waits properly. Only a long run of
// them (never seen) falls back to one read(2); a timer here would cost every fault a tick.
void EngineImpl::read_faults() {
  uffd_reader->async_read_some(asio::buffer(msgs.data(), msgs.size() * sizeof(uffd_msg)),
                               [this](boost::system::error_code ec, size_t n) {
                                 if (!ec) {
                                   uffd_read_interruptions = 0;
                                   for (size_t i = 0; i < n / sizeof(uffd_msg); ++i) {
                                     if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                                       serve_fault(msgs[i]);
                                   }
                                   return read_faults();
                                 }
                                 if (ec == asio::error::interrupted ||
                                     ec == asio::error::would_block ||
                                     ec == asio::error::try_again) {
                                   if (++uffd_read_interruptions >= 64) {
                                     uffd_read_interruptions = 0;
                                     drain_faults();
                                   }
                                   return read_faults();
                                 }
                                 retry_read_faults_later(ec);
                               });
}

// Reads every queued fault event with read(2); the descriptor is non-blocking, so EAGAIN ends
// the batch.
void EngineImpl::drain_faults() {
  for (int interrupted = 0; interrupted < 8;) {
    ssize_t n = ::read(uffd.fd(), msgs.data(), msgs.size() * sizeof(uffd_msg));
    if (n < 0) {
      if (errno == EINTR) {  // task work ran on the way out of read(2): the next read works
        ++interrupted;
        continue;
      }
      if (errno != EAGAIN) {
        MMAPURL_LOG(LogLevel::kError,
                    std::string("reading userfaultfd failed: ") + strerror(errno));
      }
      return;
    }
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uffd_msg); ++i) {
      if (msgs[i].event == UFFD_EVENT_PAGEFAULT) serve_fault(msgs[i]);
    }
    if (static_cast<size_t>(n) < msgs.size() * sizeof(uffd_msg)) return;
  }
}

// Keeps waiting after an unexpected read failure, but never spins: giving up would leave
// faulting threads asleep forever, spinning would starve the timers that end stalls.
void EngineImpl::retry_read_faults_later(boost::system::error_code ec) {
  if (ec != asio::error::interrupted) {
    MMAPURL_LOG(LogLevel::kError, "reading userfaultfd failed: " + ec.message());
  }
  auto timer = std::make_shared<asio::steady_timer>(*io, std::chrono::milliseconds(1));
  timer->async_wait([this, timer](boost::system::error_code) { read_faults(); });
}

// A fault whose handling threw fails its page (SIGBUS), as one whose request failed would: the
// thread never sleeps for ever, and the next events are still read.
void EngineImpl::serve_fault(const uffd_msg& msg) {
  contain(
      "serving a fault", [&] { on_fault(msg); },
      [&](Contained) {
        const uint64_t addr = msg.arg.pagefault.address & ~(kPageSize - 1);
        Mapping* m = find_mapping(addr);
        if (!m) return;
        const uint64_t page = (addr - m->base) / kPageSize;
        if (page < m->pages.size()) poison_pages(*m, page, 1);
      });
}

void EngineImpl::on_fault(const uffd_msg& msg) {
  uint64_t addr = msg.arg.pagefault.address & ~(kPageSize - 1);
  uint64_t stream = uffd.features().thread_id ? msg.arg.pagefault.feat.ptid : 0;
  totals.faults.fetch_add(1, std::memory_order_relaxed);
  Mapping* m = find_mapping(addr);
  if (!m) return;  // unmapped meanwhile: unregistering woke the thread already
  m->counters.faults.fetch_add(1, std::memory_order_relaxed);
  uint64_t page = (addr - m->base) / kPageSize;
  if (page >= m->pages.size()) return;
  auto now = Clock::now();
  switch (m->pages.get(page)) {
    case PageState::kResident:
      // Filled after the kernel queued this fault: the thread may still sleep.
      uffd.wake(addr, kPageSize);
      return;
    case PageState::kFailed:
      poison_pages(*m, page, 1);
      return;
    case PageState::kMarker: {
      if (!fill_marker(*m, page)) {
        m->waiters.emplace(page, now);
        plan_and_schedule(*m, page, stream, FaultKind::kMissing);
        return;
      }
      m->counters.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      totals.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      m->counters.record_latency(Clock::now() - now);
      totals.record_latency(Clock::now() - now);
      plan_and_schedule(*m, page, stream, FaultKind::kMarker);
      return;
    }
    case PageState::kInFlight: {
      m->waiters.emplace(page, now);
      m->counters.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      totals.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      hurry_fetches(*m, page, page + 1);
      plan_and_schedule(*m, page, stream, FaultKind::kInFlight);
      return;
    }
    case PageState::kAbsent:
      m->waiters.emplace(page, now);
      if (!m->broken.empty()) {
        poison_pages(*m, page, 1);
        return;
      }
      plan_and_schedule(*m, page, stream, FaultKind::kMissing);
      return;
  }
}

// The fetches that own a page of [first, end) now have a thread waiting: ahead in their pool's
// queue, and the bytes they hold back for a fill batch are filled at once.
void EngineImpl::hurry_fetches(Mapping& m, uint64_t first, uint64_t end) {
  for (const auto& f : m.fetches) {
    const uint64_t stop = std::min(end, f->first_page + f->page_count);
    for (uint64_t p = std::max(first, f->first_page); p < stop; ++p) {
      if (!f->owns(p)) continue;
      f->demand = true;
      m.pool->promote(f->exchange);
      on_fetch_progress(f, f->received);
      break;
    }
  }
}

bool EngineImpl::fill_marker(Mapping& m, uint64_t page) {
  auto it = m.markers.find(page);
  if (it != m.markers.end() &&
      uffd.copy(m.base + page * kPageSize, it->second.get(), kPageSize) == 0) {
    m.pages.set(page, PageState::kResident);
    note_resident(m, page, 1);
    m.markers.erase(it);
    return true;
  }
  m.pages.set(page, PageState::kAbsent);
  m.markers.erase(page);
  return false;
}

void EngineImpl::plan_and_schedule(Mapping& m, uint64_t page, uint64_t stream, FaultKind kind) {
  const bool previous_page_resident = page == 0 || m.pages.get(page - 1) == PageState::kResident;
  for (const auto& range : m.planner.on_fault(page, stream, kind, previous_page_resident)) {
    MMAPURL_LOG(LogLevel::kTimeline, "fault at page " + std::to_string(page) + ": plan pages " +
                                         std::to_string(range.first_page) + "+" +
                                         std::to_string(range.page_count) +
                                         (range.demand ? " demand" : " readahead"));
    schedule_range(m, range);
  }
  if (m.pages.get(page) == PageState::kAbsent) {
    // Whatever the planner said, the faulting page itself is always fetched.
    control::FetchRange own;
    own.first_page = page;
    own.page_count = 1;
    own.demand = true;
    schedule_range(m, own);
  }
}

void EngineImpl::schedule_range(Mapping& m, const control::FetchRange& range) {
  recover_memory_limit();
  uint64_t end = std::min<uint64_t>(range.first_page + range.page_count, m.pages.size());
  // Parts shrink with a small memory limit, so one request never holds much of it; readahead
  // windows are spread over the connections (control/part_sizing.hpp says why).
  control::PartSizing sizing;
  sizing.max_part_pages = std::min(config.part_bytes, memory_limit.limit() / 16) / kPageSize;
  sizing.min_part_pages = kMinParallelPartBytes / kPageSize;
  sizing.connections = config.connections;
  const uint64_t part_pages =
      control::part_pages_for(end - std::min(end, range.first_page), range.demand, sizing);
  uint64_t p = range.first_page;
  while (p < end) {
    if (m.pages.get(p) != PageState::kAbsent) {
      ++p;
      continue;
    }
    uint64_t run = m.pages.run_length(p, std::min(part_pages, end - p), PageState::kAbsent);
    if (m.cache && m.cache->usable()) {
      // Pages the disk cache holds are read from it now; the request covers only what it lacks.
      const uint64_t held = m.cache->held_run(p, run);
      if (held > 0) {
        const uint64_t filled = fill_from_cache(m, p, held);
        p += filled;
        if (filled == held) continue;
        run -= filled;  // the cache file failed: fetch the rest
      } else {
        run = m.cache->missing_run(p, run);
      }
      // A background GET already brings this page: readahead takes its bytes rather than
      // download them again (a scan with the whole-object prefetch fetched 1.5 GiB of 1 GiB);
      // so does a thread that waits, if the page is at most a round trip's worth of bytes away
      // from what has arrived (at 50 MB/s the end of an 8 MiB part is 160 ms off: a GET of its
      // own costs one round trip).
      if (Fetch* bg = background_fetch_bringing(m, p)) {
        const uint64_t arrived = bg->first_page + bg->copied_pages;
        if (!range.demand || p - arrived <= kAdoptDistancePages) {
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
          if (range.demand) {
            bg->demand = true;
            // The retry budget of a thread's pages starts now, not when the download asked.
            bg->started = Clock::now();
            m.pool->promote(bg->exchange);
          }
          p = bg_end;
          continue;
        }
      }
    }
    // What the request will hold: its staging buffer (the pages it fills count as resident).
    const uint64_t bytes = staging_bytes(run);
    // Readahead stops an eighth short of the limit: the rest is for the blocks threads wait on.
    const uint64_t cap =
        range.demand ? memory_limit.limit() : memory_limit.limit() - memory_limit.limit() / 8;
    // A pooled buffer of this class becomes the request's staging buffer: it is counted already,
    // so it must not count twice.
    const uint64_t reused = has_spare_buffer(bytes) ? bytes : 0;
    auto excess = [&] {
      const uint64_t used = memory_in_use() - reused;
      return used + bytes > cap ? used + bytes - cap : 0;
    };
    if (excess() > 0) {
      // Pooled buffers of other sizes go first: they hold no data. Buffers of this request's
      // size go last, after the oldest pages: the next parts of this window take them, and
      // trimming them first made a scan at the limit pay an munmap, an mmap and a page fault per
      // 4 KiB for every part.
      trim_spare_buffers(excess(), /*except_class=*/bytes);
      if (excess() > 0) evict_for(excess());
      if (excess() > 0) trim_spare_buffers(excess(), /*except_class=*/0, reused);
      if (excess() > 0) {
        if (!range.demand) {
          MMAPURL_LOG(LogLevel::kTimeline,
                      "readahead at page " + std::to_string(p) + " held back: memory limit");
          m.planner.on_memory_pressure();  // readahead shrinks rather than push past the bound
          return;
        }
        // A thread waits: fetch only what fits (a power of two pages, so that its buffer class
        // fits too), at least one small block, and nothing after it. A smaller run takes a
        // buffer of another class: the pooled one kept above then stays, and counts.
        const uint64_t used = memory_in_use();
        uint64_t room = used < cap ? (cap - used) / kPageSize : 0;
        if (room > 0) room = uint64_t{1} << (63 - __builtin_clzll(room));
        run = std::max(std::min(run, room), std::min<uint64_t>(run, kMinDemandPages));
        end = p + run;
      }
    }
    auto f = std::make_shared<Fetch>();
    f->mapping_id = m.id;
    f->first_page = p;
    f->page_count = run;
    f->demand = range.demand;
    if (range.marker_page >= p && range.marker_page < p + run) f->marker_page = range.marker_page;
    f->started = Clock::now();
    m.pages.set_range(p, run, PageState::kInFlight);
    start_fetch(m, std::move(f));
    p += run;
  }
}

void EngineImpl::start_fetch(Mapping& m, std::shared_ptr<Fetch> f) {
  if (!f->buffer) {
    m.fetches.insert(f);
    // The whole buffer counts: a pooled one may be dirty past this request's pages.
    const uint64_t held = staging_bytes(f->page_count);
    f->buffer = take_buffer(held);
    if (!f->buffer) {
      return fail_fetch(m, f, "no memory for a staging buffer", /*mapping_wide=*/false,
                        /*pump=*/false);
    }
    f->ring_pages = held / kPageSize;
    totals.in_flight_bytes.fetch_add(held, std::memory_order_relaxed);
    m.counters.in_flight_bytes.fetch_add(held, std::memory_order_relaxed);
  }
  f->request_from_page = f->copied_pages;
  f->received = 0;
  uint64_t first = (f->first_page + f->copied_pages) * kPageSize;
  uint64_t last = std::min<uint64_t>((f->first_page + f->page_count) * kPageSize, m.size) - 1;
  auto ex = std::make_shared<net::Exchange>();
  ex->request = m.source->range_request(first, last, true);
  ex->urgent = f->demand;
  std::weak_ptr<Fetch> weak = f;
  ex->on_head = [this, weak, first, last](const net::ResponseHead& head,
                                          std::string* reject) -> std::optional<net::BodyTarget> {
    auto fetch = weak.lock();
    if (!fetch) return std::nullopt;
    std::optional<net::BodyTarget> target;
    contain(
        "judging a range's answer",
        [&] { target = take_range_answer(*fetch, head, first, last, reject); },
        [&](Contained failure) { *reject = std::string("internal error: ") + failure.why; });
    return target;
  };
  ex->on_progress = [this, weak](uint64_t received) -> uint64_t {
    auto fetch = weak.lock();
    uint64_t consumed = received;
    if (!fetch) return consumed;
    contain(
        "filling pages", [&] { consumed = on_fetch_progress(fetch, received); },
        [&](Contained failure) {
          // The body still streams into the staging buffer, so the fetch keeps it: the answer is
          // refused, and on_fetch_complete fails (or retries once) what the fetch owns.
          if (fetch->rejected.error == source::SourceError::kNone) {
            fetch->rejected = {source::SourceError::kProtocol,
                               std::string("internal error: ") + failure.why};
          }
          consumed = (fetch->copied_pages - fetch->request_from_page) * kPageSize;
        });
    return consumed;
  };
  ex->on_complete = [this, f](net::ExchangeResult&& r) {
    contain(
        "finishing a range", [&] { on_fetch_complete(f, std::move(r)); },
        [&](Contained failure) { fail_contained_fetch(f, failure); });
  };
  f->exchange = ex;
  ++requests_in_flight;
  bump_max(totals.max_requests_in_flight, requests_in_flight);
  bump_max(m.counters.max_requests_in_flight, requests_in_flight);
  m.pool->submit(std::move(ex));
}

std::optional<net::BodyTarget> EngineImpl::take_range_answer(Fetch& fetch,
                                                             const net::ResponseHead& head,
                                                             uint64_t first, uint64_t last,
                                                             std::string* reject) {
  auto mit = mappings.find(fetch.mapping_id);
  if (mit == mappings.end() || !fetch.buffer) {
    *reject = "mapping gone";
    return std::nullopt;
  }
  auto verdict = source::check_range_response(head, mit->second->source->identity(), first, last);
  if (verdict.error != source::SourceError::kNone) {
    fetch.rejected = verdict;
    *reject = verdict.message;
    return std::nullopt;
  }
  net::BodyTarget target;
  target.data = fetch.buffer;
  target.size = last - first + 1;
  target.ring_bytes = fetch.ring_pages * kPageSize;
  target.ring_start = (fetch.request_from_page % fetch.ring_pages) * kPageSize;
  return target;
}

void EngineImpl::fail_contained_fetch(const std::shared_ptr<Fetch>& f, Contained failure) {
  auto mit = mappings.find(f->mapping_id);
  if (mit == mappings.end() || !mit->second->fetches.count(f)) return;
  fail_fetch(*mit->second, f, std::string("internal error: ") + failure.why,
             /*mapping_wide=*/false);
}

uint64_t EngineImpl::on_fetch_progress(const std::shared_ptr<Fetch>& f, uint64_t received) {
  auto mit = mappings.find(f->mapping_id);
  if (mit == mappings.end() || !f->buffer) return received;  // nothing will be filled
  Mapping& m = *mit->second;
  f->received = received;
  auto consumed = [&] { return (f->copied_pages - f->request_from_page) * kPageSize; };
  if (f->rejected.error != source::SourceError::kNone) return consumed();  // refused mid-body
  uint64_t body_start = (f->first_page + f->request_from_page) * kPageSize;
  uint64_t body_end = std::min<uint64_t>((f->first_page + f->page_count) * kPageSize, m.size);
  uint64_t have = body_start + received;
  uint64_t ready = have >= body_end ? f->page_count : have / kPageSize - f->first_page;
  if (ready <= f->copied_pages) return consumed();
  bool someone_waits = false;
  auto w = m.waiters.lower_bound(f->first_page + f->copied_pages);
  if (w != m.waiters.end() && w->first < f->first_page + ready) someone_waits = true;
  // Half a ring unfilled is a batch too: the rest of the ring is the room for the next reads.
  const uint64_t batch = std::min(kFillBatchPages, f->ring_pages / 2);
  if (someone_waits || ready - f->copied_pages >= batch || ready == f->page_count) {
    deliver_pages(m, *f, ready);
  }
  return consumed();
}

// The object's last page: zero what lies past its end in staging (the buffer is reused).
void EngineImpl::zero_past_object_end(const Mapping& m, Fetch& f, uint64_t upto) {
  uint64_t body_end = std::min<uint64_t>((f.first_page + f.page_count) * kPageSize, m.size);
  uint64_t end_byte = (f.first_page + upto) * kPageSize;
  if (end_byte > body_end) {
    uint64_t off = body_end - f.first_page * kPageSize;
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

void EngineImpl::fill_pages(Mapping& m, Fetch& f, uint64_t upto) {
  zero_past_object_end(m, f, upto);
  auto now = Clock::now();
  uint64_t p = f.copied_pages;
  while (p < upto) {
    // One UFFDIO_COPY per run, which ends at `upto`, at the marker page and where the ring wraps.
    const uint64_t ring_end = p + (f.ring_pages - p % f.ring_pages);
    uint64_t q = p;
    while (q < upto && q < ring_end && f.first_page + q != f.marker_page) ++q;
    if (q > p) {
      fill_run(m, f.first_page + p, f.staging_page(p), q - p, /*keep_newest_pages=*/p - f.copied_pages);
      keep_in_cache(m, f.first_page + p, f.staging_page(p), q - p);
    }
    if (q < upto && f.first_page + q == f.marker_page) {
      // The readahead marker: hold its bytes back unless a thread already waits on it.
      uint64_t page = f.first_page + q;
      keep_in_cache(m, page, f.staging_page(q), 1);
      if (m.waiters.count(page)) {
        fill_run(m, page, f.staging_page(q), 1, /*keep_newest_pages=*/q - f.copied_pages);
      } else {
        auto held = std::make_unique<uint8_t[]>(kPageSize);
        std::memcpy(held.get(), f.staging_page(q), kPageSize);
        m.markers[page] = std::move(held);
        m.pages.set(page, PageState::kMarker);
      }
      ++q;
    }
    p = q;
  }
  release_waiters(m, f.first_page + f.copied_pages, f.first_page + upto, now);
  f.copied_pages = upto;
}

// Evicts what the limit needs (never the newest `keep_newest_pages` fills), copies `count` pages
// from `src` into the mapping at `page` and counts them resident; returns how many it filled.
// Pages the kernel will not take are never counted resident: a thread waiting on one would fault,
// be woken as if it were filled, and fault again, for ever.
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

// UFFDIO_COPY met ENOMEM: the kernel gives this process less memory than MMAPURL_MEMORY_LIMIT
// (a memory cgroup's limit, a host short of memory). The limit drops to 7/8 of what the engine
// holds, never below 4 MiB, and what is over it is freed, so later fills and readahead stay
// under what the kernel grants; recover_memory_limit gives it back a second later, an eighth at a
// time. False when nothing could be freed.
bool EngineImpl::yield_memory_to_kernel(uint64_t keep_newest_pages) {
  const uint64_t used = memory_in_use();
  const uint64_t before = memory_limit.limit();
  if (memory_limit.refused(used, Clock::now())) {
    MMAPURL_LOG(LogLevel::kError, "the kernel refused memory with " + std::to_string(used >> 20) +
                                      " MiB in use: memory limit lowered from " +
                                      std::to_string(before >> 20) + " to " +
                                      std::to_string(memory_limit.limit() >> 20) + " MiB");
  }
  watch_tasks_waiting_on_memory();
  const uint64_t limit = memory_limit.limit();
  if (used <= limit) return false;
  trim_spare_buffers(used - limit);
  if (memory_in_use() > limit) evict_for(memory_in_use() - limit, keep_newest_pages);
  return memory_in_use() < used;
}

void EngineImpl::recover_memory_limit() {
  if (!memory_limit.lowered() || !memory_limit.recover(Clock::now())) return;
  MMAPURL_LOG(LogLevel::kInfo, "no memory refused for a while: memory limit raised to " +
                                   std::to_string(memory_limit.limit() >> 20) + " MiB");
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

void EngineImpl::deliver_pages(Mapping& m, Fetch& f, uint64_t upto) {
  if (!f.to_cache) return fill_pages(m, f, upto);
  const uint64_t from = f.copied_pages;
  store_in_cache(m, f, upto);
  if (!f.adopted.empty()) fill_adopted(m, f, from, upto);
}

void EngineImpl::fill_adopted(Mapping& m, Fetch& f, uint64_t from, uint64_t upto) {
  auto now = Clock::now();
  for (const auto& [first, end] : f.adopted) {
    // This run's part of [from, upto), one UFFDIO_COPY per stretch of the staging ring.
    uint64_t p = std::max(from, first - f.first_page);
    const uint64_t stop = std::min(upto, end - f.first_page);
    while (p < stop) {
      const uint64_t run = std::min(stop, p + (f.ring_pages - p % f.ring_pages)) - p;
      const uint64_t page = f.first_page + p;
      fill_run(m, page, f.staging_page(p), run,
               /*keep_newest_pages=*/p - std::max(from, first - f.first_page));
      // Only these pages' waiters: other pages inside the part belong to other fetches, whose
      // threads must stay waiting (and be seen waiting) until those fill them.
      release_waiters(m, page, page + run, now);
      p += run;
    }
  }
}

Fetch* EngineImpl::background_fetch_bringing(Mapping& m, uint64_t page) {
  if (m.background_fetches == 0) return nullptr;
  for (const auto& f : m.fetches) {
    if (f->to_cache && page >= f->first_page + f->copied_pages &&
        page < f->first_page + f->page_count) {
      return f.get();
    }
  }
  return nullptr;
}

void EngineImpl::store_in_cache(Mapping& m, Fetch& f, uint64_t upto) {
  zero_past_object_end(m, f, upto);
  for (uint64_t p = f.copied_pages; p < upto;) {
    const uint64_t q = std::min(upto, p + (f.ring_pages - p % f.ring_pages));
    keep_in_cache(m, f.first_page + p, f.staging_page(p), q - p);
    p = q;
  }
  f.copied_pages = upto;
}

uint64_t EngineImpl::fill_from_cache(Mapping& m, uint64_t first, uint64_t count) {
  const uint64_t chunk_pages = kStagingRingBytes / kPageSize;
  uint8_t* buffer = take_buffer(kStagingRingBytes);
  if (!buffer) return 0;  // the pages are fetched from the network instead
  auto now = Clock::now();
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
  give_buffer(buffer, kStagingRingBytes);
  release_waiters(m, first, first + done, now);
  return done;
}

// The whole object into the disk cache, from its start, one part per GET, on the connections the
// budget gives it; the pool runs faults first and keeps a connection free for them. Pages a
// request of the reader already brings are skipped: they are kept in the cache when filled.
void EngineImpl::pump_cache_prefetch(Mapping& m) {
  recover_memory_limit();
  const bool downloading = config.cache_prefetch_whole && m.cache && m.cache->usable() &&
                           m.broken.empty() && m.cache_cursor < m.pages.size();
  hold_ready_connections(m, downloading);
  if (!downloading) return;
  const uint32_t budget = control::background_fetch_budget(config.connections);
  const uint64_t part_pages =
      std::max<uint64_t>(1, std::min(config.part_bytes, memory_limit.limit() / 16) / kPageSize);
  const uint64_t total = m.pages.size();
  while (m.background_fetches < budget && m.cache_cursor < total) {
    uint64_t p = m.cache_cursor;
    while (p < total && (m.cache->has(p) || m.pages.get(p) != PageState::kAbsent)) ++p;
    m.cache_cursor = p;
    if (p >= total) break;
    const uint64_t run = std::min(m.cache->missing_run(p, part_pages),
                                  m.pages.run_length(p, part_pages, PageState::kAbsent));
    // Background staging stays inside the readahead share of the memory limit, evicting the
    // oldest fills as readahead does (a mapping larger than the limit sits at it); if nothing can
    // go, the next fetch to complete pumps again.
    const uint64_t cap = memory_limit.limit() - memory_limit.limit() / 8;
    const uint64_t bytes = staging_bytes(run);
    if (memory_in_use() + bytes > cap) evict_for(memory_in_use() + bytes - cap);
    if (memory_in_use() + bytes > cap) break;
    auto f = std::make_shared<Fetch>();
    f->mapping_id = m.id;
    f->first_page = p;
    f->page_count = run;
    f->to_cache = true;
    f->started = Clock::now();
    m.cache_cursor = p + run;
    ++m.background_fetches;
    start_fetch(m, std::move(f));
  }
  hold_ready_connections(m, m.cache_cursor < total);
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

void EngineImpl::note_resident(Mapping& m, uint64_t first, uint64_t count) {
  m.counters.resident_bytes.fetch_add(count * kPageSize, std::memory_order_relaxed);
  totals.resident_bytes.fetch_add(count * kPageSize, std::memory_order_relaxed);
  fill_order.note_filled(m.id, first, count);
  // A filled page is counted while its staging buffer still is: stay within the limit now, not
  // at the next request, but never by dropping what was just filled for a waiting thread.
  uint64_t used = memory_in_use();
  if (used > memory_limit.limit())
    evict_for(used - memory_limit.limit(), /*keep_newest_pages=*/count);
}

// Evicts before UFFDIO_COPY rather than after: the kernel counts the new pages at once, and at
// the limit a fill must not push the process past it even for a moment.
void EngineImpl::make_room_for_fill(uint64_t pages, uint64_t keep_newest_pages) {
  recover_memory_limit();
  const uint64_t used = memory_in_use() + pages * kPageSize;
  if (used > memory_limit.limit()) evict_for(used - memory_limit.limit(), keep_newest_pages);
}

void EngineImpl::evict_for(uint64_t bytes_needed, uint64_t keep_newest_pages) {
  // Segments are trimmed from their front, so no more is dropped than asked, and the newest
  // `keep_newest_pages` pages (just filled for a waiting thread) stay.
  uint64_t freed = 0;
  while (freed < bytes_needed) {
    const uint64_t wanted = (bytes_needed - freed + kPageSize - 1) / kPageSize;
    const auto part = fill_order.take_oldest(wanted, keep_newest_pages);
    if (!part) break;
    auto mit = mappings.find(part->mapping_id);
    if (mit == mappings.end()) continue;
    Mapping& m = *mit->second;
    uint64_t dropped = drop_resident(m, part->first_page, part->first_page + part->count);
    m.counters.evictions.fetch_add(dropped, std::memory_order_relaxed);
    totals.evictions.fetch_add(dropped, std::memory_order_relaxed);
    // Pages already gone (DONTNEED) free nothing but still use up the segment.
    freed += dropped * kPageSize;
  }
}

uint64_t EngineImpl::drop_resident(Mapping& m, uint64_t first, uint64_t end) {
  uint64_t dropped = 0;
  for (uint64_t p = first; p < end;) {
    uint64_t run = m.pages.run_length(p, end - p, PageState::kResident);
    if (run == 0) {
      ++p;
      continue;
    }
    ::madvise(reinterpret_cast<void*>(m.base + p * kPageSize), run * kPageSize, MADV_DONTNEED);
    m.pages.set_range(p, run, PageState::kAbsent);
    m.counters.resident_bytes.fetch_sub(run * kPageSize, std::memory_order_relaxed);
    totals.resident_bytes.fetch_sub(run * kPageSize, std::memory_order_relaxed);
    dropped += run;
    p += run;
  }
  return dropped;
}

void EngineImpl::on_fetch_complete(const std::shared_ptr<Fetch>& f, net::ExchangeResult&& r) {
  --requests_in_flight;
  totals.requests.fetch_add(1, std::memory_order_relaxed);
  totals.bytes_fetched.fetch_add(r.body_bytes, std::memory_order_relaxed);
  auto mit = mappings.find(f->mapping_id);
  if (mit == mappings.end()) {
    // Unmapped while in flight: drop the bytes; nothing may land in that address range.
    return release_fetch(nullptr, f);
  }
  Mapping& m = *mit->second;
  m.counters.requests.fetch_add(1, std::memory_order_relaxed);
  m.counters.bytes_fetched.fetch_add(r.body_bytes, std::memory_order_relaxed);
  // Failed already (a contained error while its body arrived): its pages are answered.
  if (!m.fetches.count(f)) return;
  // MMAPURL_LOG=debug with a log file: one line per finished GET, the timeline a throughput
  // question needs.
  MMAPURL_LOG(LogLevel::kTimeline,
              "GET pages " + std::to_string(f->first_page) + "+" + std::to_string(f->page_count) +
                  (f->demand     ? " demand"
                   : f->to_cache ? " background"
                                 : " readahead") +
                  " took " +
                  std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                     Clock::now() - f->started)
                                     .count()) +
                  " us, " + std::to_string(r.body_bytes) + " bytes; in flight " +
                  std::to_string(requests_in_flight) + ", memory in use " +
                  std::to_string(memory_in_use() >> 20) + " MiB");
  if (r.error == net::NetError::kNone && r.head.status / 100 == 2) {
    deliver_pages(m, *f, f->page_count);
    release_fetch(&m, f);
    return pump_cache_prefetch(m);
  }
  // Keep what arrived: the retry asks only for the rest.
  if (r.body_bytes > 0) {
    uint64_t have_pages = (r.body_bytes / kPageSize) + f->request_from_page;
    if (have_pages > f->copied_pages) deliver_pages(m, *f, std::min(have_pages, f->page_count));
  }
  std::string why;
  bool transient = true;
  bool mapping_wide = false;
  if (f->rejected.error != source::SourceError::kNone) {
    why = f->rejected.message;
    transient = false;
    mapping_wide = f->rejected.error == source::SourceError::kChanged;
    // A server that answers a range wrongly once may be a confused proxy: one more try.
    if (f->rejected.error != source::SourceError::kChanged && f->attempts == 0) transient = true;
    f->rejected = {};
  } else if (r.error != net::NetError::kNone) {
    why = r.message;
    transient = r.error != net::NetError::kTlsVerify && r.error != net::NetError::kCancelled;
  } else {
    auto verdict = m.source->classify_status(r.head, r.small_body);
    why = verdict.message;
    transient = verdict.error == source::SourceError::kTransient;
    mapping_wide = !transient;  // 404/403/412 after mapping: the object is gone or changed
  }
  auto elapsed = Clock::now() - f->started;
  auto delay = backoff(f->attempts + 1);
  if (transient && elapsed + delay < std::chrono::duration<double>(config.retry_timeout_s)) {
    ++f->attempts;
    m.counters.retries.fetch_add(1, std::memory_order_relaxed);
    totals.retries.fetch_add(1, std::memory_order_relaxed);
    MMAPURL_LOG(LogLevel::kInfo, "retrying " + m.source->describe() + " pages " +
                                     std::to_string(f->first_page) + "+" +
                                     std::to_string(f->page_count) + " after: " + why);
    auto timer = std::make_shared<asio::steady_timer>(*io, delay);
    uint64_t id = m.id;
    timer->async_wait([this, f, timer, id](boost::system::error_code) {
      contain(
          "retrying a range",
          [&] {
            auto it = mappings.find(id);
            if (it == mappings.end()) return release_fetch(nullptr, f);
            start_fetch(*it->second, f);
          },
          [&](Contained failure) { fail_contained_fetch(f, failure); });
    });
    return;
  }
  fail_fetch(m, f, why, mapping_wide);
}

void EngineImpl::fail_fetch(Mapping& m, const std::shared_ptr<Fetch>& f, const std::string& why,
                            bool mapping_wide, bool pump) {
  MMAPURL_LOG(LogLevel::kError,
              m.source->describe() + ": pages " + std::to_string(f->first_page + f->copied_pages) +
                  ".." + std::to_string(f->first_page + f->page_count - 1) + " failed: " + why);
  if (mapping_wide && m.broken.empty()) m.broken = why;
  const uint64_t first = f->first_page + f->copied_pages;
  const uint64_t end = f->first_page + f->page_count;
  // A fetch of the reader's owns every page of its part; a background GET only the runs it
  // adopted, which fail as readahead or demand does (the rest of its pages stay kAbsent and a
  // touch fetches them).
  std::vector<std::pair<uint64_t, uint64_t>> owned = f->adopted;
  if (!f->to_cache) owned = {{first, end}};
  bool waited = false;
  for (const auto& [run_first, run_end] : owned) {
    auto w = m.waiters.lower_bound(std::max(first, run_first));
    if (w != m.waiters.end() && w->first < std::min(end, run_end)) waited = true;
  }
  f->copied_pages = f->page_count;
  release_fetch(&m, f);
  for (const auto& [run_first, run_end] : owned) {
    const uint64_t p = std::max(first, run_first);
    const uint64_t q = std::min(end, run_end);
    if (p >= q) continue;
    if (f->demand || waited || mapping_wide) {
      // Exactly these pages raise SIGBUS from now on (sticky, even if eviction zaps poison).
      poison_pages(m, p, q - p);
    } else {
      // Readahead nobody asked for yet: forget it; a touch fetches (and judges) again.
      m.pages.set_range(p, q - p, PageState::kAbsent);
    }
  }
  settle_reads(m);
  if (f->to_cache && pump) pump_cache_prefetch(m);
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
  raise_sigbus_on(m.base + first * kPageSize, count * kPageSize);
  settle_reads(m);
}

// Never leaves a thread asleep on a failed page: UFFDIO_POISON, or where the kernel lacks it
// (before 6.6) a mapping that raises SIGBUS (a shared mapping past the end of an empty memfd)
// put over the pages, then the waiters woken so they fault into it.
void EngineImpl::raise_sigbus_on(uint64_t addr, uint64_t len) {
  if (uffd.features().poison && !config.disable_poison) {
    const int e = uffd.poison(addr, len);
    if (e == 0) return;
    MMAPURL_LOG(LogLevel::kError, std::string("UFFDIO_POISON: ") + std::strerror(e));
  }
  int fd = ::memfd_create("mmapurl-failed", MFD_CLOEXEC);
  if (fd >= 0) {
    ::mmap(reinterpret_cast<void*>(addr), len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    ::close(fd);
  }
  uffd.wake(addr, len);
}

void EngineImpl::release_fetch(Mapping* m, const std::shared_ptr<Fetch>& f) {
  if (m && f->to_cache && m->fetches.count(f)) --m->background_fetches;
  if (f->buffer) {
    const uint64_t held = staging_bytes(f->page_count);
    give_buffer(f->buffer, held);
    totals.in_flight_bytes.fetch_sub(held, std::memory_order_relaxed);
    if (m) m->counters.in_flight_bytes.fetch_sub(held, std::memory_order_relaxed);
    f->buffer = nullptr;
  }
  f->exchange.reset();
  if (m) m->fetches.erase(f);
}

// Staging buffers come in power-of-two size classes: request sizes vary with window edges, and
// a pool keyed by exact size missed nearly always, paying a fresh mmap and its page faults.
uint64_t EngineImpl::buffer_class(uint64_t bytes) {
  uint64_t c = 16 * 1024;
  while (c < bytes) c <<= 1;
  return c;
}

uint64_t EngineImpl::staging_bytes(uint64_t pages) {
  return std::min(buffer_class(pages * kPageSize), kStagingRingBytes);
}

namespace {
std::atomic<uint64_t> g_staging_refusals_to_inject{0};

// The next `count` staging buffers are refused as a failed mmap would refuse them (tests).
bool inject_staging_refusal() {
  uint64_t left = g_staging_refusals_to_inject.load(std::memory_order_relaxed);
  while (left > 0) {
    if (g_staging_refusals_to_inject.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}
}  // namespace

void test_refuse_staging_buffers(uint64_t count) {
  g_staging_refusals_to_inject.store(count, std::memory_order_relaxed);
}

uint8_t* EngineImpl::take_buffer(uint64_t bytes) {
  if (inject_staging_refusal()) return nullptr;
  last_buffer_taken = Clock::now();
  const uint64_t size = buffer_class(bytes);
  auto it = spare_buffers.find(size);
  if (it != spare_buffers.end() && !it->second.empty()) {
    uint8_t* p = it->second.back();
    it->second.pop_back();
    spare_bytes -= size;
    return p;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    MMAPURL_LOG(LogLevel::kError, "mmap of a " + std::to_string(size) +
                                      "-byte staging buffer: " + std::strerror(errno));
    return nullptr;
  }
  // Its pages are charged here, where a refusal is an error the engine answers (ENOMEM: yield
  // memory, try again), not at the first write into it: in a memory cgroup at its limit that write
  // waits for memory, and only this thread would free any. Before 5.14: EINVAL, pages on write.
  while (::madvise(p, size, MADV_POPULATE_WRITE) != 0 && errno == ENOMEM &&
         yield_memory_to_kernel(/*keep_newest_pages=*/0)) {
  }
  totals.staging_buffers_mapped.fetch_add(1, std::memory_order_relaxed);
  return static_cast<uint8_t*>(p);
}

// Resident pages, staging buffers of requests in flight, and pooled staging buffers: everything
// MMAPURL_MEMORY_LIMIT bounds.
uint64_t EngineImpl::memory_in_use() const {
  return totals.resident_bytes.load() + totals.in_flight_bytes.load() + spare_bytes;
}

bool EngineImpl::has_spare_buffer(uint64_t bytes) const {
  auto it = spare_buffers.find(buffer_class(bytes));
  return it != spare_buffers.end() && !it->second.empty();
}

void EngineImpl::trim_spare_buffers(uint64_t bytes, uint64_t except_class,
                                    uint64_t keep_one_of_class) {
  for (auto& [size, list] : spare_buffers) {
    if (size == except_class) continue;
    const size_t keep = size == keep_one_of_class ? 1 : 0;
    while (list.size() > keep && bytes > 0) {
      ::munmap(list.back(), size);
      list.pop_back();
      spare_bytes -= size;
      bytes -= std::min(bytes, size);
    }
  }
}

void EngineImpl::give_buffer(uint8_t* p, uint64_t bytes) {
  if (!p) return;
  const uint64_t size = buffer_class(bytes);
  if (spare_bytes + size <= std::min(kSpareBufferLimit, memory_limit.limit() / 4)) {
    spare_buffers[size].push_back(p);
    spare_bytes += size;
    return;
  }
  ::munmap(p, size);
}

Clock::duration EngineImpl::backoff(int attempt) const {
  if (attempt <= 1) return std::chrono::milliseconds(0);  // a stale keep-alive: retry at once
  static thread_local std::minstd_rand rng(std::random_device{}());
  double base = std::min(5.0, 0.1 * static_cast<double>(1 << std::min(attempt - 1, 10)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(base * jitter(rng)));
}

int EngineImpl::advise_now(uint64_t addr, uint64_t len, int advice) {
  Mapping* m = find_mapping(addr);
  // Compared without forming addr + len: a huge len would wrap it past the check.
  if (!m || m->length == 0 || len > m->base + m->length - addr) return -1;
  uint64_t first = (addr - m->base) / kPageSize;
  uint64_t last = (addr + len + kPageSize - 1 - m->base) / kPageSize;
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
