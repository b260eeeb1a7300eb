#include "core/mapping_registry.hpp"

#include <algorithm>

namespace mmapurl::core {

Mapping& MappingRegistry::add(std::unique_ptr<Mapping> m) {
  const uint64_t id = next_id_;
  auto slot = by_id_.emplace(id, nullptr).first;
  try {
    by_address_[m->base] = id;
  } catch (...) {
    by_id_.erase(slot);
    throw;
  }
  ++next_id_;
  m->id = id;
  slot->second = std::move(m);
  return *slot->second;
}

Mapping* MappingRegistry::find(uint64_t addr) const {
  auto it = by_address_.upper_bound(addr);
  if (it == by_address_.begin()) return nullptr;
  --it;
  Mapping* m = by_id(it->second);
  if (!m) return nullptr;
  const uint64_t span = std::max<uint64_t>(m->length, kPageSize);
  return addr < m->base + span ? m : nullptr;
}

Mapping* MappingRegistry::at_base(uint64_t base) const {
  auto it = by_address_.find(base);
  return it == by_address_.end() ? nullptr : by_id(it->second);
}

Mapping* MappingRegistry::by_id(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

void MappingRegistry::erase(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_address_.erase(it->second->base);
  by_id_.erase(it);
}

}  // namespace mmapurl::core
