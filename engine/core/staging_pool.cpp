#include "core/staging_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "core/test_hooks.hpp"
#include "uffd/object_region.hpp"

namespace mmapurl::core {

namespace {
std::atomic<uint64_t> g_staging_refusals_to_inject{0};

// The next `count` staging buffers are refused as a failed mmap would refuse them (tests).
bool inject_staging_refusal() {
  uint64_t left = g_staging_refusals_to_inject.load(std::memory_order_relaxed);
  while (left > 0) {
    if (g_staging_refusals_to_inject.compare_exchange_weak(left, left - 1)) return true;
  }
  return false;
}
}  // namespace

void test_refuse_staging_buffers(uint64_t count) {
  g_staging_refusals_to_inject.store(count, std::memory_order_relaxed);
}

StagingPool::~StagingPool() { trim(spare_bytes_); }

uint64_t StagingPool::size_class(uint64_t bytes) {
  uint64_t c = 16 * 1024;
  while (c < bytes) c <<= 1;
  return c;
}

StagingPool::Taken StagingPool::take(uint64_t bytes, Clock::time_point now) {
  Taken t;
  if (inject_staging_refusal()) {
    t.error = ENOMEM;
    return t;
  }
  last_taken_ = now;
  const uint64_t size = size_class(bytes);
  auto it = spare_.find(size);
  if (it != spare_.end() && !it->second.empty()) {
    t.buffer = it->second.back();
    it->second.pop_back();
    spare_bytes_ -= size;
    return t;
  }
  t.buffer = uffd::map_staging(size, &t.error);
  t.fresh = t.buffer != nullptr;
  return t;
}

void StagingPool::give(uint8_t* p, uint64_t bytes, uint64_t cap) {
  if (!p) return;
  const uint64_t size = size_class(bytes);
  if (spare_bytes_ + size <= cap) {
    spare_[size].push_back(p);
    spare_bytes_ += size;
    return;
  }
  uffd::unmap_staging(p, size);
}

bool StagingPool::has_spare(uint64_t bytes) const {
  auto it = spare_.find(size_class(bytes));
  return it != spare_.end() && !it->second.empty();
}

void StagingPool::trim(uint64_t bytes, uint64_t except_class, uint64_t keep_one_of_class) {
  for (auto& [size, list] : spare_) {
    if (size == except_class) continue;
    const size_t keep = size == keep_one_of_class ? 1 : 0;
    while (list.size() > keep && bytes > 0) {
      uffd::unmap_staging(list.back(), size);
      list.pop_back();
      spare_bytes_ -= size;
      bytes -= std::min(bytes, size);
    }
  }
}

}  // namespace mmapurl::core
