// PageStateTable implementation: a byte per page plus per-state counts.
#include "control/page_state_table.hpp"

namespace mmapurl::control {

void PageStateTable::set(uint64_t page, PageState s) {
  --counts_[static_cast<int>(states_[page])];
  states_[page] = s;
  ++counts_[static_cast<int>(s)];
}

void PageStateTable::set_range(uint64_t first, uint64_t count, PageState s) {
  for (uint64_t p = first; p < first + count && p < states_.size(); ++p) set(p, s);
}

uint64_t PageStateTable::run_length(uint64_t first, uint64_t max, PageState s) const {
  uint64_t n = 0;
  while (n < max && first + n < states_.size() && states_[first + n] == s) ++n;
  return n;
}

}  // namespace mmapurl::control
