// PageStateTable: what the engine knows about each 4 KiB page of one mapping. Pure data; the
// engine's single thread owns it, so no locks.
#pragma once

#include <cstdint>
#include <vector>

namespace mmapurl::control {

enum class PageState : uint8_t {
  kAbsent,    // not in memory, not requested: a touch faults and fetches
  kInFlight,  // a request covering it is queued or running
  kResident,  // filled with UFFDIO_COPY
  kMarker,    // data held back as a readahead marker; a touch fills it at once
  kFailed,    // could not be fetched for good: a touch raises SIGBUS, sticky across eviction
};

class PageStateTable {
 public:
  explicit PageStateTable(uint64_t pages) : states_(pages, PageState::kAbsent) { counts_[0] = pages; }

  uint64_t size() const { return states_.size(); }
  PageState get(uint64_t page) const { return states_[page]; }
  void set(uint64_t page, PageState s);
  void set_range(uint64_t first, uint64_t count, PageState s);
  // Length of the run of pages in state `s` starting at `first`, at most `max`.
  uint64_t run_length(uint64_t first, uint64_t max, PageState s) const;
  uint64_t count(PageState s) const { return counts_[static_cast<int>(s)]; }

 private:
  std::vector<PageState> states_;
  uint64_t counts_[5] = {0, 0, 0, 0, 0};
};

}  // namespace mmapurl::control
