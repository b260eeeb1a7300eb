// FillOrder: a deque of runs of filled pages, oldest at the front.
#include "control/fill_order.hpp"

#include <algorithm>

namespace mmapurl::control {

void FillOrder::note_filled(uint64_t mapping_id, uint64_t first_page, uint64_t count) {
  if (count == 0) return;
  if (!queue_.empty()) {
    Segment& last = queue_.back();
    if (last.mapping_id == mapping_id && last.first_page + last.count == first_page) {
      last.count += count;
      return;
    }
  }
  queue_.push_back({mapping_id, first_page, count});
}

std::optional<FillOrder::Segment> FillOrder::take_oldest(uint64_t max_pages,
                                                         uint64_t keep_newest_pages) {
  if (queue_.empty() || max_pages == 0) return std::nullopt;
  Segment& oldest = queue_.front();
  uint64_t evictable = oldest.count;
  if (queue_.size() == 1)
    evictable = oldest.count > keep_newest_pages ? oldest.count - keep_newest_pages : 0;
  if (evictable == 0) return std::nullopt;
  const uint64_t take = std::min(evictable, max_pages);
  Segment taken{oldest.mapping_id, oldest.first_page, take};
  oldest.first_page += take;
  oldest.count -= take;
  if (oldest.count == 0) queue_.pop_front();
  return taken;
}

void FillOrder::forget_mapping(uint64_t mapping_id) {
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const Segment& s) { return s.mapping_id == mapping_id; }),
               queue_.end());
}

void FillOrder::forget_range(uint64_t mapping_id, uint64_t first_page, uint64_t end_page) {
  std::deque<Segment> kept;
  for (const Segment& s : queue_) {
    const uint64_t end = s.first_page + s.count;
    if (s.mapping_id != mapping_id || end <= first_page || s.first_page >= end_page) {
      kept.push_back(s);
      continue;
    }
    if (s.first_page < first_page)
      kept.push_back({mapping_id, s.first_page, first_page - s.first_page});
    if (end > end_page) kept.push_back({mapping_id, end_page, end - end_page});
  }
  queue_.swap(kept);
}

}  // namespace mmapurl::control
