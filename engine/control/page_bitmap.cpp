// PageBitmap: word-at-a-time runs, so a 1 GiB object's 262144 pages are scanned in 4096 steps.
#include "control/page_bitmap.hpp"

#include <algorithm>
#include <utility>

namespace mmapurl::control {

PageBitmap::PageBitmap(uint64_t pages, std::vector<uint64_t> words)
    : pages_(pages), words_(std::move(words)) {
  words_.resize((pages + 63) / 64, 0);
  if (pages % 64 != 0) words_.back() &= (uint64_t{1} << (pages % 64)) - 1;
  for (uint64_t w : words_) set_ += static_cast<uint64_t>(__builtin_popcountll(w));
}

void PageBitmap::set_range(uint64_t first, uint64_t count) {
  const uint64_t end = std::min(pages_, first + std::min(count, pages_));
  for (uint64_t p = first; p < end;) {
    const uint64_t bit = p % 64;
    const uint64_t n = std::min<uint64_t>(64 - bit, end - p);
    const uint64_t mask = (n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1)) << bit;
    uint64_t& w = words_[p / 64];
    set_ += static_cast<uint64_t>(__builtin_popcountll(mask & ~w));
    w |= mask;
    p += n;
  }
}

uint64_t PageBitmap::run_length(uint64_t first, uint64_t max, bool value) const {
  const uint64_t end = std::min(pages_, first + std::min(max, pages_));
  uint64_t p = first;
  while (p < end) {
    const uint64_t bit = p % 64;
    // Bits that differ from `value`, from `bit` on: the run ends at the lowest one.
    uint64_t differ = (value ? ~words_[p / 64] : words_[p / 64]) >> bit;
    if (differ != 0)
      return std::min(end, p + static_cast<uint64_t>(__builtin_ctzll(differ))) - first;
    p += 64 - bit;
  }
  return end > first ? end - first : 0;
}

}  // namespace mmapurl::control
