// MappingRegistry: every live mapping, by id and by address. Only the engine thread touches it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "core/mapping.hpp"

namespace mmapurl::core {

class MappingRegistry {
 public:
  using ById = std::unordered_map<uint64_t, std::unique_ptr<Mapping>>;

  // Gives the mapping its id and registers it at m->base. Throws std::bad_alloc with nothing
  // registered.
  Mapping& add(std::unique_ptr<Mapping> m);
  // The mapping whose range holds `addr` (an empty object's mapping holds its one page).
  Mapping* find(uint64_t addr) const;
  // The mapping that starts exactly at `base`.
  Mapping* at_base(uint64_t base) const;
  Mapping* by_id(uint64_t id) const;
  void erase(uint64_t id);

  const ById& all() const { return by_id_; }
  size_t size() const { return by_id_.size(); }

 private:
  std::map<uint64_t, uint64_t> by_address_;  // base → id
  ById by_id_;
  uint64_t next_id_ = 1;
};

}  // namespace mmapurl::core
