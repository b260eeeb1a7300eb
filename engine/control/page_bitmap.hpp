// PageBitmap: one bit per 4 KiB page of a mapping (which pages the disk cache holds). Pure data,
// owned by the engine thread.
#pragma once

#include <cstdint>
#include <vector>

namespace mmapurl::control {

class PageBitmap {
 public:
  explicit PageBitmap(uint64_t pages) : pages_(pages), words_((pages + 63) / 64, 0) {}
  // From words as words() gave them (a kept cache's record); bits past `pages` are dropped.
  PageBitmap(uint64_t pages, std::vector<uint64_t> words);

  uint64_t size() const { return pages_; }
  bool test(uint64_t page) const { return (words_[page / 64] >> (page % 64)) & 1; }
  // Sets [first, first + count), clipped to the bitmap.
  void set_range(uint64_t first, uint64_t count);
  // Length of the run of pages whose bit equals `value`, starting at `first`, at most `max`.
  uint64_t run_length(uint64_t first, uint64_t max, bool value) const;
  uint64_t count() const { return set_; }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  uint64_t pages_;
  std::vector<uint64_t> words_;
  uint64_t set_ = 0;
};

}  // namespace mmapurl::control
