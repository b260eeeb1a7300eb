// FillOrder: the eviction queue. Pages are noted in the order they were filled, and eviction
// takes the oldest first (userspace cannot see accesses to resident pages, so fill order is the
// best age it has). Pure: the caller drops what it is handed (MADV_DONTNEED).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace mmapurl::control {

class FillOrder {
 public:
  struct Segment {
    uint64_t mapping_id = 0, first_page = 0, count = 0;
  };

  // Pages [first_page, first_page + count) of a mapping were filled just now.
  void note_filled(uint64_t mapping_id, uint64_t first_page, uint64_t count);
  // Up to `max_pages` of the oldest fills, taken off the queue from the front of the oldest
  // segment; never the newest `keep_newest_pages` of the newest segment (just filled for a
  // waiting thread). Nothing when only those are left.
  std::optional<Segment> take_oldest(uint64_t max_pages, uint64_t keep_newest_pages);
  // A mapping is gone: none of its pages is kept in the queue.
  void forget_mapping(uint64_t mapping_id);
  // Pages [first_page, end_page) of a mapping were dropped (MADV_DONTNEED at the user's advice):
  // they leave the queue, so a page filled again is queued once, at its new age.
  void forget_range(uint64_t mapping_id, uint64_t first_page, uint64_t end_page);
  size_t segments() const { return queue_.size(); }

 private:
  std::deque<Segment> queue_;
};

}  // namespace mmapurl::control
