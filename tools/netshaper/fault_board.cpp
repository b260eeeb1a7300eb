// FaultBoard: the fault currently requested of a ShapingProxy, shared by its accept thread and
// every connection thread; connections poll a generation number and claim a slot to act.
#include "netshaper/fault_board.hpp"

namespace mmapurl::netshaper {

void FaultBoard::set(TcpFault fault, uint64_t after_bytes, int max_connections) {
  std::lock_guard lock(mu_);
  spec_.fault = fault;
  spec_.after_bytes = after_bytes;
  spec_.generation += 1;
  slots_left_ = max_connections < 0 ? -1 : max_connections;
  generation_.store(spec_.generation, std::memory_order_release);
}

FaultSpec FaultBoard::current() const {
  std::lock_guard lock(mu_);
  return spec_;
}

bool FaultBoard::claim(uint64_t generation) {
  std::lock_guard lock(mu_);
  if (generation != spec_.generation || spec_.fault == TcpFault::kNone) return false;
  if (slots_left_ == 0) return false;
  if (slots_left_ > 0) --slots_left_;
  faulted_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace mmapurl::netshaper
