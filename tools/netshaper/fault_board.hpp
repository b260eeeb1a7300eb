// FaultBoard: the fault currently requested of a ShapingProxy, shared by its accept thread and
// every connection thread; connections poll a generation number and claim a slot to act.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "netshaper/shaping_proxy.hpp"

namespace mmapurl::netshaper {

struct FaultSpec {
  TcpFault fault = TcpFault::kNone;
  uint64_t after_bytes = 0;
  uint64_t generation = 0;
};

class FaultBoard {
 public:
  void set(TcpFault fault, uint64_t after_bytes, int max_connections);
  // Cheap check for "has the fault changed since I last looked".
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  FaultSpec current() const;
  // True if a connection may act on the fault of `generation`: consumes one of max_connections.
  bool claim(uint64_t generation);
  uint64_t faulted() const { return faulted_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  FaultSpec spec_;
  int slots_left_ = -1;  // -1: unlimited
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> faulted_{0};
};

}  // namespace mmapurl::netshaper
