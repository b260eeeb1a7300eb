// Fetch ranges become ranged GETs: cut into parts, read from the disk cache or taken over from
// the background download where they can, fitted into the memory budget, run on the origin's
// connection pool, retried as control/retry_policy says, and failed for good by poisoning the
// pages a thread needs.
#include <boost/asio/steady_timer.hpp>

#include "control/part_sizing.hpp"
#include "core/engine_impl.hpp"
#include "base/log.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;
using control::AttemptFailure;
using control::PageState;

namespace {
// Fill as the body arrives, but in batches: one UFFDIO_COPY per 256 KiB, or half a staging ring,
// unless a thread waits.
constexpr uint64_t kFillBatchPages = 64;
// What a waiting thread gets fetched even when the memory limit is reached (16 KiB).
constexpr uint64_t kMinDemandPages = 4;
// Smallest GET a readahead window is cut into to use several connections at once.
constexpr uint64_t kMinParallelPartBytes = 1ull << 20;

void bump_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

const char* purpose_name(const Fetch& f) {
  if (f.urgent) return " demand";
  return f.background() ? " background" : " readahead";
}

// Why a finished exchange did not bring its part, as the retry policy sees it.
AttemptFailure classify_failure(const Fetch& f, const net::ExchangeResult& r,
                                const source::SourceVerdict& status_verdict) {
  if (f.rejected.error != source::SourceError::kNone) {
    return f.rejected.error == source::SourceError::kChanged ? AttemptFailure::kChanged
                                                             : AttemptFailure::kWrongRange;
  }
  switch (r.error) {
    case net::NetError::kNone:
      return status_verdict.error == source::SourceError::kTransient
                 ? AttemptFailure::kStatusTransient
                 : AttemptFailure::kStatusPermanent;
    case net::NetError::kTlsVerify:
      return AttemptFailure::kTlsVerify;
    case net::NetError::kCancelled:
      return AttemptFailure::kCancelled;
    case net::NetError::kProtocol:
      return AttemptFailure::kMalformed;
    default:
      return AttemptFailure::kNetwork;
  }
}
}  // namespace

void EngineImpl::schedule_range(Mapping& m, const control::FetchRange& range) {
  recover_memory_limit();
  uint64_t end = std::min<uint64_t>(range.first_page + range.page_count, m.pages.size());
  // Parts shrink with a small memory limit, so one request never holds much of it; readahead
  // windows are spread over the connections (control/part_sizing.hpp says why).
  control::PartSizing sizing;
  sizing.max_part_pages = budget.part_bytes(config.part_bytes) / kPageSize;
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
      if (const uint64_t next = adopt_background_run(m, p, end, range.demand); next != p) {
        p = next;
        continue;
      }
    }
    bool last = false;
    run = fit_in_budget(m, p, run, range.demand, &last);
    if (run == 0) return;  // readahead held back: memory limit
    if (last) end = p + run;
    const uint64_t marker = range.marker_page >= p && range.marker_page < p + run
                                ? range.marker_page
                                : control::FetchRange::kNoMarker;
    launch_fetch(m, range.demand ? FetchPurpose::kDemand : FetchPurpose::kReadahead, p, run,
                 marker);
    p += run;
  }
}

uint64_t EngineImpl::fit_in_budget(Mapping& m, uint64_t p, uint64_t run, bool demand, bool* last) {
  // What the request will hold: its staging buffer (the pages it fills count as resident).
  const auto use = demand ? control::MemoryUse::kDemand : control::MemoryUse::kReadahead;
  if (make_room_for_staging(staging_bytes(run), use)) return run;
  if (!demand) {
    MMAPURL_LOG(LogLevel::kTimeline,
                "readahead at page " + std::to_string(p) + " held back: memory limit");
    m.planner.on_memory_pressure();  // readahead shrinks rather than push past the bound
    return 0;
  }
  // A thread waits: fetch only what fits, at least one small block, and nothing after it. A
  // smaller run takes a buffer of another class: a pooled one kept for this class then stays,
  // and counts.
  *last = true;
  return budget.demand_pages_that_fit(memory_in_use(), run, kMinDemandPages, kPageSize);
}

void EngineImpl::launch_fetch(Mapping& m, FetchPurpose purpose, uint64_t first, uint64_t count,
                              uint64_t marker_page) {
  auto f = std::make_shared<Fetch>();
  f->mapping_id = m.id;
  f->purpose = purpose;
  f->urgent = purpose == FetchPurpose::kDemand;
  f->first_page = first;
  f->page_count = count;
  f->marker_page = marker_page;
  f->started = Clock::now();
  if (purpose == FetchPurpose::kBackground) {
    ++m.background_fetches;
  } else {
    m.pages.set_range(first, count, PageState::kInFlight);
  }
  start_fetch(m, std::move(f));
}

void EngineImpl::start_fetch(Mapping& m, std::shared_ptr<Fetch> f) {
  if (!f->buffer) {
    m.fetches.insert(f);
    // The whole buffer counts: a pooled one may be dirty past this request's pages.
    const uint64_t held = staging_bytes(f->page_count);
    f->buffer = take_staging(held);
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
  f->exchange = make_exchange(m, f);
  ++requests_in_flight;
  bump_max(totals.max_requests_in_flight, requests_in_flight);
  bump_max(m.counters.max_requests_in_flight, requests_in_flight);
  m.pool->submit(f->exchange);
}

// The GET of what the fetch still lacks, its handlers holding the fetch weakly while the body
// streams (an unmapped mapping's fetch is released at once) and strongly at completion.
std::shared_ptr<net::Exchange> EngineImpl::make_exchange(Mapping& m,
                                                         const std::shared_ptr<Fetch>& f) {
  const uint64_t first = (f->first_page + f->copied_pages) * kPageSize;
  const uint64_t last = std::min<uint64_t>((f->first_page + f->page_count) * kPageSize, m.size) - 1;
  auto ex = std::make_shared<net::Exchange>();
  ex->request = m.source->range_request(first, last, true);
  ex->urgent = f->urgent;
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
  return ex;
}

std::optional<net::BodyTarget> EngineImpl::take_range_answer(Fetch& fetch,
                                                             const net::ResponseHead& head,
                                                             uint64_t first, uint64_t last,
                                                             std::string* reject) {
  Mapping* m = registry.by_id(fetch.mapping_id);
  if (!m || !fetch.buffer) {
    *reject = "mapping gone";
    return std::nullopt;
  }
  auto verdict = source::check_range_response(head, m->source->identity(), first, last);
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

uint64_t EngineImpl::on_fetch_progress(const std::shared_ptr<Fetch>& f, uint64_t received) {
  Mapping* mp = registry.by_id(f->mapping_id);
  if (!mp || !f->buffer) return received;  // nothing will be filled
  Mapping& m = *mp;
  f->received = received;
  auto consumed = [&] { return (f->copied_pages - f->request_from_page) * kPageSize; };
  if (f->rejected.error != source::SourceError::kNone) return consumed();  // refused mid-body
  const uint64_t body_start = (f->first_page + f->request_from_page) * kPageSize;
  const uint64_t body_end = std::min<uint64_t>((f->first_page + f->page_count) * kPageSize, m.size);
  const uint64_t have = body_start + received;
  const uint64_t ready = have >= body_end ? f->page_count : have / kPageSize - f->first_page;
  if (ready <= f->copied_pages) return consumed();
  auto w = m.waiters.lower_bound(f->first_page + f->copied_pages);
  const bool someone_waits = w != m.waiters.end() && w->first < f->first_page + ready;
  // Half a ring unfilled is a batch too: the rest of the ring is the room for the next reads.
  const uint64_t batch = std::min(kFillBatchPages, f->ring_pages / 2);
  if (someone_waits || ready - f->copied_pages >= batch || ready == f->page_count) {
    deliver_pages(m, *f, ready);
  }
  return consumed();
}

void EngineImpl::on_fetch_complete(const std::shared_ptr<Fetch>& f, net::ExchangeResult&& r) {
  --requests_in_flight;
  totals.requests.fetch_add(1, std::memory_order_relaxed);
  totals.bytes_fetched.fetch_add(r.body_bytes, std::memory_order_relaxed);
  Mapping* mp = registry.by_id(f->mapping_id);
  // Unmapped while in flight: drop the bytes; nothing may land in that address range.
  if (!mp) return release_fetch(nullptr, f);
  Mapping& m = *mp;
  m.counters.requests.fetch_add(1, std::memory_order_relaxed);
  m.counters.bytes_fetched.fetch_add(r.body_bytes, std::memory_order_relaxed);
  // Failed already (a contained error while its body arrived): its pages are answered.
  if (!m.fetches.count(f)) return;
  // MMAPURL_LOG=debug with a log file: one line per finished GET, the timeline a throughput
  // question needs.
  MMAPURL_LOG(LogLevel::kTimeline,
              "GET pages " + std::to_string(f->first_page) + "+" + std::to_string(f->page_count) +
                  purpose_name(*f) + " took " +
                  std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                     Clock::now() - f->started)
                                     .count()) +
                  " us, " + std::to_string(r.body_bytes) + " bytes; in flight " +
                  std::to_string(requests_in_flight) + ", memory in use " +
                  std::to_string(memory_in_use() >> 20) + " MiB");
  if (r.error == net::NetError::kNone && r.head.status / 100 == 2 &&
      f->rejected.error == source::SourceError::kNone) {
    deliver_pages(m, *f, f->page_count);
    release_fetch(&m, f);
    return pump_cache_prefetch(m);
  }
  // Keep what arrived: the retry asks only for the rest.
  if (r.body_bytes > 0) {
    const uint64_t have_pages = (r.body_bytes / kPageSize) + f->request_from_page;
    if (have_pages > f->copied_pages) deliver_pages(m, *f, std::min(have_pages, f->page_count));
  }
  source::SourceVerdict status_verdict;
  std::string why;
  if (f->rejected.error != source::SourceError::kNone) {
    why = f->rejected.message;
  } else if (r.error != net::NetError::kNone) {
    why = r.message;
  } else {
    status_verdict = m.source->classify_status(r.head, r.small_body);
    why = status_verdict.message;
  }
  const AttemptFailure failure = classify_failure(*f, r, status_verdict);
  f->rejected = {};
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const auto decision = retry_policy.decide(control::RetryPhase::kFetch, failure, f->attempts,
                                            Clock::now() - f->started, jitter(retry_jitter));
  if (decision.retry) return retry_fetch(m, f, decision.delay, why);
  fail_fetch(m, f, why, decision.mapping_wide);
}

void EngineImpl::retry_fetch(Mapping& m, const std::shared_ptr<Fetch>& f, Clock::duration delay,
                             const std::string& why) {
  ++f->attempts;
  m.counters.retries.fetch_add(1, std::memory_order_relaxed);
  totals.retries.fetch_add(1, std::memory_order_relaxed);
  MMAPURL_LOG(LogLevel::kInfo, "retrying " + m.source->describe() + " pages " +
                                   std::to_string(f->first_page) + "+" +
                                   std::to_string(f->page_count) + " after: " + why);
  auto timer = std::make_shared<asio::steady_timer>(*io, delay);
  const uint64_t id = m.id;
  timer->async_wait([this, f, timer, id](boost::system::error_code) {
    contain(
        "retrying a range",
        [&] {
          Mapping* still = registry.by_id(id);
          if (!still) return release_fetch(nullptr, f);
          start_fetch(*still, f);
        },
        [&](Contained failure) { fail_contained_fetch(f, failure); });
  });
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
  if (!f->background()) owned = {{first, end}};
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
    if (f->urgent || waited || mapping_wide) {
      // Exactly these pages raise SIGBUS from now on (sticky, even if eviction zaps poison).
      poison_pages(m, p, q - p);
    } else {
      // Readahead nobody asked for yet: forget it; a touch fetches (and judges) again.
      m.pages.set_range(p, q - p, PageState::kAbsent);
    }
  }
  settle_reads(m);
  if (f->background() && pump) pump_cache_prefetch(m);
}

void EngineImpl::fail_contained_fetch(const std::shared_ptr<Fetch>& f, Contained failure) {
  Mapping* m = registry.by_id(f->mapping_id);
  if (!m || !m->fetches.count(f)) return;
  fail_fetch(*m, f, std::string("internal error: ") + failure.why, /*mapping_wide=*/false);
}

void EngineImpl::release_fetch(Mapping* m, const std::shared_ptr<Fetch>& f) {
  if (m && f->background() && m->fetches.count(f)) --m->background_fetches;
  if (f->buffer) {
    const uint64_t held = staging_bytes(f->page_count);
    give_staging(f->buffer, held);
    totals.in_flight_bytes.fetch_sub(held, std::memory_order_relaxed);
    if (m) m->counters.in_flight_bytes.fetch_sub(held, std::memory_order_relaxed);
    f->buffer = nullptr;
  }
  f->exchange.reset();
  if (m) m->fetches.erase(f);
}

}  // namespace mmapurl::core
