// The queue of injected faults: each request takes the first rule whose path matches, in the
// order the rules were set. Not thread-safe by itself: the server guards it with its mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "embedded_server/server_options.hpp"

namespace mmapurl::testserver {

class FaultSchedule {
 public:
  // count < 0: until cleared. A kNone rule with a count lets that many requests through cleanly
  // before the rules behind it apply ("the 4th request resets").
  void add(Fault fault, int count, const std::string& path);
  // Removes every rule and starts a new epoch (wakes stalled responses).
  void clear();
  // The fault for a request on `path` (kNone when no rule matches); consumes one use.
  Fault take(const std::string& path);
  uint64_t epoch() const { return epoch_; }

 private:
  struct Rule {
    Fault fault;
    int remaining;  // < 0: unlimited
    std::string path;
  };
  std::deque<Rule> rules_;
  uint64_t epoch_ = 0;
};

}  // namespace mmapurl::testserver
