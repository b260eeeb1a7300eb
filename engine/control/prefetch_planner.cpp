// PrefetchPlanner: classifies each fault of a mapping as random, sequential or strided per stream
// and answers with a demand range plus readahead (windows with async markers, or strided blocks).
#include "control/prefetch_planner.hpp"

#include <algorithm>

namespace mmapurl::control {
namespace {

// Strided readahead asks for one small range per predicted block: keep a batch a handful of
// requests, not thousands.
constexpr uint64_t kMaxStridedBatch = 64;

uint64_t saturating_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

PrefetchPlanner::PrefetchPlanner(uint64_t total_pages, PlannerConfig config)
    : total_pages_(total_pages), config_(config) {
  // A nonsensical configuration degrades to the smallest working one instead of failing.
  config_.random_fetch_pages = std::max<uint64_t>(config_.random_fetch_pages, 1);
  config_.max_window_pages = std::max<uint64_t>(config_.max_window_pages, 1);
  config_.initial_window_pages =
      std::clamp<uint64_t>(config_.initial_window_pages, 1, config_.max_window_pages);
  config_.max_streams = std::max<uint64_t>(config_.max_streams, 1);
  config_.window_growth = std::clamp<uint64_t>(config_.window_growth, 1, 16);
}

std::vector<FetchRange> PrefetchPlanner::on_fault(uint64_t page, uint64_t stream_key,
                                                  FaultKind kind, bool previous_page_resident) {
  std::vector<FetchRange> out;
  if (page >= total_pages_) return out;
  ++clock_;

  if (hint_ == AccessHint::kRandom) {
    // The engine releases a held-back marker page by itself; only a missing page needs a fetch.
    if (kind == FaultKind::kMissing) {
      push_demand(block_start(page), block_start(page) + config_.random_fetch_pages, out);
    }
    return out;
  }

  Stream* stream = find_stream(page, stream_key);
  if (stream == nullptr) {
    // A wait on a page someone else requested tells nothing about where this reader goes.
    if (kind == FaultKind::kInFlight) return out;
    Stream& fresh = claim_stream(stream_key);
    if (kind == FaultKind::kMarker) {
      resume_after_marker(fresh, page, out);
      return out;
    }
    const uint64_t stride = observe_jump(page, stream_key);
    if (hint_ == AccessHint::kSequential) {
      start_sequential(fresh, page, out);
    } else if (stride != 0) {
      start_strided(fresh, page, stride, out);
    } else {
      start_random(fresh, page, out);
    }
    return out;
  }

  stream->last_used = clock_;
  if (stream_key != 0) stream->stream_key = stream_key;
  if (hint_ == AccessHint::kSequential && stream->mode != Mode::kSequential &&
      kind == FaultKind::kMissing) {
    start_sequential(*stream, page, out);
    return out;
  }
  switch (stream->mode) {
    case Mode::kSequential:
      on_sequential_fault(*stream, page, kind, previous_page_resident, out);
      break;
    case Mode::kRandom:
      on_random_fault(*stream, page, kind, previous_page_resident, out);
      break;
    case Mode::kStrided:
      on_strided_fault(*stream, page, kind, previous_page_resident, out);
      break;
  }
  return out;
}

void PrefetchPlanner::on_memory_pressure() {
  for (Stream& s : streams_) {
    if (s.mode == Mode::kSequential) {
      s.window_pages = std::max(config_.initial_window_pages, s.window_pages / 2);
      s.hold_growth = true;
    } else if (s.mode == Mode::kStrided) {
      s.stride_batch = std::max(initial_batch(), s.stride_batch / 2);
      s.hold_growth = true;
    }
  }
}

void PrefetchPlanner::set_hint(AccessHint hint) {
  hint_ = hint;
  if (hint != AccessHint::kSequential) return;
  for (Stream& s : streams_) {
    if (s.mode == Mode::kSequential) s.window_pages = std::max(s.window_pages, first_window());
  }
}

// --- finding and replacing streams ---------------------------------------------------------

bool PrefetchPlanner::continues(const Stream& s, uint64_t page) const {
  const uint64_t r = config_.random_fetch_pages;
  switch (s.mode) {
    case Mode::kRandom:
      // The demand block itself (other threads, evicted pages) or reading on right after it.
      return page >= s.zone_start && page < s.block_until + r;
    case Mode::kSequential: {
      // Out-of-order faults up to a window behind the reader; small forward skips past the plan
      // (kept small: a large capture zone would turn nearby random faults into readahead).
      const uint64_t behind = std::max(s.window_pages, r);
      const uint64_t skip = std::max(r, config_.initial_window_pages);
      return page >= saturating_sub(s.next_page, behind) &&
             page < std::max(s.planned_until + skip, s.unknown_plan_until);
    }
    case Mode::kStrided:
      if (page >= s.zone_start && page < s.block_until + r) return true;
      return page >= s.stride_anchor && page < s.planned_until + r &&
             (page - s.stride_anchor) % s.stride_pages < r;
  }
  return false;
}

PrefetchPlanner::Stream* PrefetchPlanner::find_stream(uint64_t page, uint64_t stream_key) {
  // A planted marker identifies its stream exactly, whoever touches it.
  for (Stream& s : streams_) {
    if (s.marker_page == page) return &s;
  }
  // Position decides (threads may share a scan); the key only breaks ties, then recency.
  Stream* best = nullptr;
  for (Stream& s : streams_) {
    if (!continues(s, page)) continue;
    if (best == nullptr) {
      best = &s;
      continue;
    }
    const bool s_key = s.stream_key == stream_key;
    const bool best_key = best->stream_key == stream_key;
    if ((s_key && !best_key) || (s_key == best_key && s.last_used > best->last_used)) best = &s;
  }
  return best;
}

void PrefetchPlanner::note_prefilled(uint64_t first, uint64_t end) {
  end = std::min(end, total_pages_);
  if (first >= end) return;
  ++clock_;
  Stream& s = claim_stream(0);
  s.mode = Mode::kRandom;
  s.zone_start = first;
  s.block_until = end;
}

PrefetchPlanner::Stream& PrefetchPlanner::claim_stream(uint64_t stream_key) {
  Stream* victim = nullptr;
  if (streams_.size() < config_.max_streams) {
    victim = &streams_.emplace_back();
  } else {
    // LRU, but a burst of random faults must not flush the sequential streams: while at least
    // half of the slots hold non-sequential streams, the victim is one of those.
    const auto non_sequential =
        static_cast<uint64_t>(std::count_if(streams_.begin(), streams_.end(), [](const Stream& s) {
          return s.mode != Mode::kSequential;
        }));
    const bool spare_sequential = non_sequential * 2 >= config_.max_streams;
    for (Stream& s : streams_) {
      if (spare_sequential && s.mode == Mode::kSequential) continue;
      if (victim == nullptr || s.last_used < victim->last_used) victim = &s;
    }
  }
  *victim = Stream{};
  victim->stream_key = stream_key;
  victim->last_used = clock_;
  return *victim;
}

uint64_t PrefetchPlanner::observe_jump(uint64_t page, uint64_t stream_key) {
  auto it = std::find_if(jumps_.begin(), jumps_.end(),
                         [&](const JumpHistory& h) { return h.stream_key == stream_key; });
  if (it == jumps_.end()) {
    JumpHistory fresh{stream_key, page, 0, 0, clock_};
    if (jumps_.size() < config_.max_streams) {
      jumps_.push_back(fresh);
    } else {
      *std::min_element(jumps_.begin(), jumps_.end(),
                        [](const JumpHistory& a, const JumpHistory& b) {
                          return a.last_used < b.last_used;
                        }) = fresh;
    }
    return 0;
  }
  JumpHistory& h = *it;
  h.last_used = clock_;
  const uint64_t delta = page > h.last_page ? page - h.last_page : 0;
  if (delta != 0 && delta == h.delta) {
    ++h.repeats;
  } else {
    h.delta = delta;
    h.repeats = delta != 0 ? 1 : 0;
  }
  h.last_page = page;
  // Three faults at equal distances, farther apart than one random fetch covers.
  return h.repeats >= 2 && h.delta > config_.random_fetch_pages ? h.delta : 0;
}

// --- per-mode fault handling ---------------------------------------------------------------

void PrefetchPlanner::on_sequential_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                                          std::vector<FetchRange>& out) {
  switch (kind) {
    case FaultKind::kMarker: {
      // The newest marker is the planned confirmation; an older one only tops the plan up.
      const bool newest = page == s.marker_page;
      if (newest) s.marker_page = FetchRange::kNoMarker;
      advance_sequential(s, page, newest, out);
      if (newest && s.marker_page == FetchRange::kNoMarker && s.planned_until < total_pages_) {
        issue_window(s, out);  // a marker always moves the plan on, even after a shrink
      }
      break;
    }
    case FaultKind::kInFlight: {
      if (page < s.next_page) return;  // another thread behind the front: nothing new
      // A wait inside the plan with nothing read before it: a random read that landed in a
      // window on its way, not a reader that caught up with it.
      if (!from_left) return;
      // The reader caught up with the prefetch: grow, at most once per planned extent.
      const bool grow = page >= s.grow_gate;
      advance_sequential(s, page, grow, out);
      if (grow) s.grow_gate = s.planned_until;
      break;
    }
    case FaultKind::kMissing: {
      // At or past the planned end: the reader read everything planned (a confirmation).
      // Inside it: an evicted page or out-of-order thread; fetch it, keep the window.
      const bool continuation = page >= s.planned_until;
      push_demand(page, page + config_.random_fetch_pages, out);
      // Behind the front (a page evicted before another thread read it), or a random read that
      // landed inside the plan: the plan ahead stands, only the page's block is needed.
      if (page < s.next_page || (!continuation && !from_left)) return;
      if (continuation) s.unknown_plan_until = 0;
      const uint64_t demand_end = out.back().first_page + out.back().page_count;
      s.planned_until = std::max(s.planned_until, demand_end);
      if (!continuation && demand_end < s.planned_until) {
        // Planned pages are gone (evicted before the reader got there, or their fetch failed):
        // ask again for those ahead, in ranges that grow while the reader goes on into the gap
        // (one small block per fault made such a scan a GET per 8 KiB) but start small, as one
        // isolated read just past a resident page looks the same. The engine drops pages it
        // holds.
        const bool goes_on = page >= s.refill_until && page <= s.refill_until + s.refill_pages;
        s.refill_pages = goes_on ? std::min(s.refill_pages * config_.window_growth, s.window_pages)
                                 : std::min(first_window(), s.window_pages);
        const uint64_t end = std::min(s.planned_until, demand_end + s.refill_pages);
        s.refill_until = end;
        out.push_back(FetchRange{demand_end, end - demand_end, false, FetchRange::kNoMarker});
        s.next_page = page + 1;
        break;
      }
      // Past the plan: the reader read all of it, or skipped a little past its end. Only one
      // that read up to here grows the window; a random read just past the end does not.
      advance_sequential(s, page, continuation && from_left, out);
      break;
    }
  }
}

void PrefetchPlanner::on_random_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                                      std::vector<FetchRange>& out) {
  switch (kind) {
    case FaultKind::kMissing:
      if (page >= s.block_until && from_left) {
        start_sequential(s, page, out);  // reads on right after its last block
      } else {
        // Its block was evicted meanwhile, or a random read landed right past it.
        start_random(s, page, out);
      }
      break;
    case FaultKind::kInFlight:
      break;  // a second thread waits on the same block
    case FaultKind::kMarker:
      resume_after_marker(s, page, out);
      break;
  }
}

void PrefetchPlanner::on_strided_fault(Stream& s, uint64_t page, FaultKind kind, bool from_left,
                                       std::vector<FetchRange>& out) {
  const uint64_t r = config_.random_fetch_pages;
  if (kind == FaultKind::kMarker && page == s.marker_page) {
    s.marker_page = FetchRange::kNoMarker;
    if (s.hold_growth) {
      s.hold_growth = false;
    } else {
      s.stride_batch = std::min(s.stride_batch * 2, std::max(initial_batch(), kMaxStridedBatch));
    }
    issue_strided_batch(s, out);
    return;
  }
  if (kind != FaultKind::kMissing) return;
  if (page >= s.block_until && page < s.block_until + r && from_left) {
    start_sequential(s, page, out);  // reads on past its block: a sequential run begins
    return;
  }
  push_demand(page, page + r, out);
  s.zone_start = page;
  s.block_until = out.back().first_page + out.back().page_count;
  const bool predicted = page >= s.stride_anchor && (page - s.stride_anchor) % s.stride_pages < r;
  if (predicted && page >= s.planned_until) {
    // The reader reached an unplanned predicted block (its marker was lost): plan further.
    s.planned_until = page - (page - s.stride_anchor) % s.stride_pages + s.stride_pages;
    issue_strided_batch(s, out);
  }
}

// --- starting a mode -----------------------------------------------------------------------

void PrefetchPlanner::start_random(Stream& s, uint64_t page, std::vector<FetchRange>& out) {
  const uint64_t block = block_start(page);
  push_demand(block, block + config_.random_fetch_pages, out);
  s.mode = Mode::kRandom;
  s.window_pages = 0;
  s.zone_start = block;
  s.block_until = out.back().first_page + out.back().page_count;
  s.planned_until = s.block_until;
  s.next_page = page + 1;
  s.marker_page = FetchRange::kNoMarker;
}

void PrefetchPlanner::start_sequential(Stream& s, uint64_t page, std::vector<FetchRange>& out) {
  // A small demand range wakes the waiting thread soon; the window follows it, its marker on
  // its first page so that the next window is requested as soon as the reader gets there.
  push_demand(page, page + config_.random_fetch_pages, out);
  s.mode = Mode::kSequential;
  s.window_pages = first_window();
  s.next_page = page + 1;
  s.planned_until = out.back().first_page + out.back().page_count;
  s.grow_gate = s.planned_until;
  s.hold_growth = false;
  s.marker_page = FetchRange::kNoMarker;
  issue_window(s, out);
}

void PrefetchPlanner::start_strided(Stream& s, uint64_t page, uint64_t stride,
                                    std::vector<FetchRange>& out) {
  // Strided blocks start where the reader starts reading, whatever the alignment.
  push_demand(page, page + config_.random_fetch_pages, out);
  s.mode = Mode::kStrided;
  s.window_pages = 0;
  s.zone_start = page;
  s.block_until = out.back().first_page + out.back().page_count;
  s.next_page = page + 1;
  s.stride_pages = stride;
  s.stride_anchor = page;
  s.stride_batch = initial_batch();
  s.planned_until = page + stride;  // the next predicted page
  s.hold_growth = false;
  issue_strided_batch(s, out);
}

void PrefetchPlanner::resume_after_marker(Stream& s, uint64_t page, std::vector<FetchRange>& out) {
  // A marker whose stream was forgotten still proves a sequential reader: restart its
  // readahead from the marker at the first window size. The forgotten plan went on for at most
  // a maximal window; the engine drops what it covers, so the reader's next miss is at its end.
  s.unknown_plan_until = page + 1 + config_.max_window_pages;
  s.mode = Mode::kSequential;
  s.window_pages = first_window();
  s.next_page = page + 1;
  s.planned_until = std::max(s.planned_until, page + 1);
  s.grow_gate = s.planned_until;
  s.hold_growth = false;
  s.marker_page = FetchRange::kNoMarker;
  issue_window(s, out);
}

// --- emitting ranges -----------------------------------------------------------------------

void PrefetchPlanner::advance_sequential(Stream& s, uint64_t page, bool grow,
                                         std::vector<FetchRange>& out) {
  if (grow) {
    if (s.hold_growth) {
      s.hold_growth = false;  // memory pressure: keep the halved window this time
    } else {
      s.window_pages = std::min(s.window_pages * config_.window_growth, config_.max_window_pages);
    }
  }
  s.next_page = std::max(s.next_page, page + 1);
  // Keep about one window planned ahead of the reader; more is only duplicated effort.
  const uint64_t ahead = saturating_sub(s.planned_until, page);
  if (ahead <= s.window_pages) issue_window(s, out);
}

void PrefetchPlanner::issue_window(Stream& s, std::vector<FetchRange>& out) {
  if (s.planned_until >= total_pages_) return;
  const uint64_t first = s.planned_until;
  const uint64_t end = std::min(total_pages_, first + s.window_pages);
  // No marker on the object's last window: there is nothing left to read ahead.
  const uint64_t marker = end < total_pages_ ? first : FetchRange::kNoMarker;
  out.push_back(FetchRange{first, end - first, false, marker});
  s.marker_page = marker;
  s.planned_until = end;
}

void PrefetchPlanner::issue_strided_batch(Stream& s, std::vector<FetchRange>& out) {
  const size_t batch_begin = out.size();
  const uint64_t first_predicted = s.planned_until;
  uint64_t predicted = first_predicted;
  for (uint64_t i = 0; i < s.stride_batch && predicted < total_pages_; ++i) {
    const uint64_t end = std::min(total_pages_, predicted + config_.random_fetch_pages);
    out.push_back(FetchRange{predicted, end - predicted, false, FetchRange::kNoMarker});
    predicted += s.stride_pages;
  }
  s.planned_until = predicted;
  s.marker_page = FetchRange::kNoMarker;
  if (out.size() > batch_begin && predicted < total_pages_) {
    // On the page the reader touches first in this batch.
    out[batch_begin].marker_page = first_predicted;
    s.marker_page = first_predicted;
  }
}

void PrefetchPlanner::push_demand(uint64_t first, uint64_t end,
                                  std::vector<FetchRange>& out) const {
  end = std::min(end, total_pages_);
  if (end > first) out.push_back(FetchRange{first, end - first, true, FetchRange::kNoMarker});
}

uint64_t PrefetchPlanner::first_window() const {
  if (hint_ == AccessHint::kSequential) {
    return std::max(config_.initial_window_pages, config_.max_window_pages / 4);
  }
  return config_.initial_window_pages;
}

uint64_t PrefetchPlanner::initial_batch() const {
  return std::clamp<uint64_t>(config_.initial_window_pages / config_.random_fetch_pages, 2,
                              kMaxStridedBatch);
}

}  // namespace mmapurl::control
