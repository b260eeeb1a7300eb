// Fault intake: userfaultfd events read through io_uring, each fault met according to its page's
// state (fill a held-back page, wake, poison, hurry the fetch that brings it, or plan a new one).
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

#include "core/engine_impl.hpp"
#include "base/log.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;
using control::FaultKind;
using control::PageState;

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
                                   serve_faults(n);
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

void EngineImpl::serve_faults(size_t bytes_read) {
  for (size_t i = 0; i < bytes_read / sizeof(uffd_msg); ++i) {
    if (msgs[i].event == UFFD_EVENT_PAGEFAULT) serve_fault(msgs[i]);
  }
}

// Reads every queued fault event with read(2); the descriptor is non-blocking, so EAGAIN ends
// the batch.
void EngineImpl::drain_faults() {
  const uint64_t capacity = msgs.size() * sizeof(uffd_msg);
  for (int interrupted = 0; interrupted < 8;) {
    int err = 0;
    const long n = uffd.read_events(msgs.data(), capacity, &err);
    if (n < 0) {
      if (err == EINTR) {  // task work ran on the way out of read(2): the next read works
        ++interrupted;
        continue;
      }
      if (err != EAGAIN) {
        MMAPURL_LOG(LogLevel::kError, std::string("reading userfaultfd failed: ") + strerror(err));
      }
      return;
    }
    serve_faults(static_cast<size_t>(n));
    if (static_cast<uint64_t>(n) < capacity) return;
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
        Mapping* m = registry.find(addr);
        if (!m) return;
        const uint64_t page = (addr - m->base) / kPageSize;
        if (page < m->pages.size()) poison_pages(*m, page, 1);
      });
}

void EngineImpl::on_fault(const uffd_msg& msg) {
  const uint64_t addr = msg.arg.pagefault.address & ~(kPageSize - 1);
  const uint64_t stream = uffd.features().thread_id ? msg.arg.pagefault.feat.ptid : 0;
  totals.faults.fetch_add(1, std::memory_order_relaxed);
  Mapping* m = registry.find(addr);
  if (!m) return;  // unmapped meanwhile: unregistering woke the thread already
  m->counters.faults.fetch_add(1, std::memory_order_relaxed);
  const uint64_t page = (addr - m->base) / kPageSize;
  if (page >= m->pages.size()) return;
  const auto now = Clock::now();
  switch (m->pages.get(page)) {
    case PageState::kResident:
      // Filled after the kernel queued this fault: the thread may still sleep.
      uffd.wake(addr, kPageSize);
      return;
    case PageState::kFailed:
      poison_pages(*m, page, 1);
      return;
    case PageState::kMarker:
      if (!fill_marker(*m, page)) {
        m->waiters.emplace(page, now);
        return plan_and_schedule(*m, page, stream, FaultKind::kMissing);
      }
      m->counters.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      totals.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      m->counters.record_latency(Clock::now() - now);
      totals.record_latency(Clock::now() - now);
      return plan_and_schedule(*m, page, stream, FaultKind::kMarker);
    case PageState::kInFlight:
      m->waiters.emplace(page, now);
      m->counters.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      totals.prefetch_hits.fetch_add(1, std::memory_order_relaxed);
      hurry_fetches(*m, page, page + 1);
      return plan_and_schedule(*m, page, stream, FaultKind::kInFlight);
    case PageState::kAbsent:
      m->waiters.emplace(page, now);
      if (!m->broken.empty()) return poison_pages(*m, page, 1);
      return plan_and_schedule(*m, page, stream, FaultKind::kMissing);
  }
}

// The fetches that own a page of [first, end) now have a thread waiting: ahead in their pool's
// queue, and the bytes they hold back for a fill batch are filled at once.
void EngineImpl::hurry_fetches(Mapping& m, uint64_t first, uint64_t end) {
  for (const auto& f : m.fetches) {
    const uint64_t stop = std::min(end, f->first_page + f->page_count);
    for (uint64_t p = std::max(first, f->first_page); p < stop; ++p) {
      if (!f->owns(p)) continue;
      f->urgent = true;
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

}  // namespace mmapurl::core
