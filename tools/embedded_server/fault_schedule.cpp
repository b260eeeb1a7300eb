// FIFO fault rules for the embedded server (see fault_schedule.hpp).
#include "embedded_server/fault_schedule.hpp"

namespace mmapurl::testserver {

void FaultSchedule::add(Fault fault, int count, const std::string& path) {
  if (count == 0) return;
  rules_.push_back(Rule{fault, count, path});
}

void FaultSchedule::clear() {
  rules_.clear();
  ++epoch_;
}

Fault FaultSchedule::take(const std::string& path) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!it->path.empty() && it->path != path) continue;
    const Fault fault = it->fault;
    if (it->remaining > 0 && --it->remaining == 0) rules_.erase(it);
    return fault;
  }
  return Fault::kNone;
}

}  // namespace mmapurl::testserver
