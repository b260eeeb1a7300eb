// Reads that return errors instead of SIGBUS (mmapurl_read): the engine fetches what the range
// lacks as a waiting thread's pages and answers once none of them is in flight; the caller then
// copies the resident prefix through the kernel (uffd/own_memory_reader), which stops short at a
// page that cannot be read rather than raising a signal.
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "core/engine.hpp"
#include "core/engine_impl.hpp"
#include "uffd/own_memory_reader.hpp"

namespace mmapurl::core {

namespace asio = boost::asio;
using control::FaultKind;
using control::PageState;

namespace {
// One settle-and-copy round covers at most this much (less under a small memory limit), so the
// pages it fetches are still resident when the caller copies them.
constexpr uint64_t kReadRoundBytes = 4ull << 20;
// Rounds in a row that copied nothing before the read gives up with EIO: each round fetches the
// first page again, so only pages evicted as fast as they arrive end here.
constexpr int kMaxIdleRounds = 64;
}  // namespace

void EngineImpl::prepare_read(uint64_t addr, uint64_t len, uint64_t stream,
                              std::shared_ptr<ReadWatch> watch) {
  ReadReady answer;
  Mapping* m = registry.find(addr);
  if (!m) return watch->answer(answer);
  answer.mapped = true;
  if (addr >= m->base + m->size) {
    answer.end_of_object = true;
    return watch->answer(answer);
  }
  const uint64_t round =
      std::max<uint64_t>(std::min(kReadRoundBytes, budget.limit() / 4), 16 * kPageSize);
  watch->addr = addr;
  watch->end_byte = std::min({addr + len, m->base + m->size, addr + round});
  watch->first_page = (addr - m->base) / kPageSize;
  watch->end_page = (watch->end_byte - m->base + kPageSize - 1) / kPageSize;
  const uint64_t first = watch->first_page;
  const uint64_t end = watch->end_page;

  if (!m->broken.empty()) {
    for (uint64_t p = first; p < end; ++p) {
      if (m->pages.get(p) == PageState::kAbsent) poison_pages(*m, p, 1);
    }
  }
  // The first page is met as a fault would be, so the planner sees the access and reads ahead
  // for a reader that goes on sequentially.
  switch (m->pages.get(first)) {
    case PageState::kMarker:
      if (fill_marker(*m, first)) {
        plan_and_schedule(*m, first, stream, FaultKind::kMarker);
      } else {
        plan_and_schedule(*m, first, stream, FaultKind::kMissing);
      }
      break;
    case PageState::kAbsent:
      plan_and_schedule(*m, first, stream, FaultKind::kMissing);
      break;
    default:
      break;
  }
  for (uint64_t p = first; p < end; ++p) {
    if (m->pages.get(p) == PageState::kMarker) fill_marker(*m, p);
  }
  control::FetchRange rest;
  rest.first_page = first;
  rest.page_count = end - first;
  rest.demand = true;
  schedule_range(*m, rest);
  // Pages in flight are waited on: filled as soon as they arrive, and failed for good (a
  // touch raises SIGBUS, this read gets EIO) rather than forgotten if their request fails.
  const auto now = Clock::now();
  for (uint64_t p = first; p < end; ++p) {
    if (m->pages.get(p) == PageState::kInFlight) m->waiters.emplace(p, now);
  }
  hurry_fetches(*m, first, end);
  m->read_watches.push_back(std::move(watch));
  settle_reads(*m);
}

void EngineImpl::settle_reads(Mapping& m, bool gone) {
  auto& watches = m.read_watches;
  for (size_t i = 0; i < watches.size();) {
    ReadWatch& w = *watches[i];
    ReadReady answer;
    answer.mapped = !gone;
    if (!gone) {
      bool in_flight = false;
      for (uint64_t p = w.first_page; p < w.end_page && !in_flight; ++p) {
        in_flight = m.pages.get(p) == PageState::kInFlight;
      }
      if (in_flight) {
        ++i;
        continue;
      }
      const uint64_t resident =
          m.pages.run_length(w.first_page, w.end_page - w.first_page, PageState::kResident);
      const uint64_t resident_end = m.base + (w.first_page + resident) * kPageSize;
      answer.readable_bytes = std::min(resident_end, w.end_byte) - w.addr;
      const uint64_t next = w.first_page + resident;
      answer.failed = next < w.end_page && m.pages.get(next) == PageState::kFailed;
    }
    w.answer(answer);
    watches[i] = std::move(watches.back());
    watches.pop_back();
  }
}

long Engine::read(const void* addr, void* buf, size_t len, int* err) {
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  if (self == impl_->engine_tid.load(std::memory_order_relaxed)) {
    *err = EDEADLK;  // the engine thread would wait for itself
    return -1;
  }
  const uint64_t start = reinterpret_cast<uint64_t>(addr);
  if (len == 0) return 0;
  if (!buf || start + len < start) {
    *err = EINVAL;
    return -1;
  }
  auto* out = static_cast<uint8_t*>(buf);
  uint64_t done = 0;
  int idle_rounds = 0;
  while (done < len) {
    auto watch = std::make_shared<ReadWatch>();
    auto settled = watch->ready.get_future();
    asio::post(*impl_->io, [impl = impl_, watch, at = start + done, n = len - done, self] {
      contain(
          "preparing a read",
          [&] { impl->prepare_read(at, n, static_cast<uint64_t>(self), watch); },
          [&](Contained) {
            ReadReady failed;
            failed.mapped = true;
            failed.failed = true;
            watch->answer(failed);
          });
    });
    const ReadReady r = settled.get();
    if (!r.mapped || r.end_of_object || (r.readable_bytes == 0 && r.failed)) {
      if (done > 0 || r.end_of_object) return static_cast<long>(done);
      *err = r.mapped ? EIO : EINVAL;
      return -1;
    }
    int copy_err = 0;
    const ssize_t n = r.readable_bytes == 0 ? 0
                                            : uffd::read_own_memory(start + done, out + done,
                                                                    r.readable_bytes, &copy_err);
    if (n < 0 && copy_err != EFAULT && copy_err != EIO) {
      if (done > 0) return static_cast<long>(done);
      *err = copy_err;
      return -1;
    }
    if (n > 0) {
      done += static_cast<uint64_t>(n);
      idle_rounds = 0;
    } else if (++idle_rounds >= kMaxIdleRounds) {
      // Evicted each time before the copy: a memory limit far too small for this read.
      if (done > 0) return static_cast<long>(done);
      *err = EIO;
      return -1;
    }
  }
  return static_cast<long>(done);
}

}  // namespace mmapurl::core
