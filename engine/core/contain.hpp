// contain(): errors are values on the engine thread. A handler's body runs, and whatever it
// throws (an allocation refused, a library's exception) is handed to `fail`, which answers what
// the handler owns (the caller's promise, a fetch's pages) so that nobody waits for ever.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "base/log.hpp"

namespace mmapurl::core {

using base::LogLevel;  // every job of the engine logs through base/log.hpp

struct Contained {
  const char* why;
  bool out_of_memory;
};

namespace detail {
template <class Fail>
void answer_contained(const char* where, Contained c, Fail& fail) noexcept {
  try {
    MMAPURL_LOG(LogLevel::kError, std::string(where) + ": " + c.why);
    fail(c);
  } catch (...) {
    // The answer itself failed (no memory even for it): the loop goes on; nothing else can.
  }
}
}  // namespace detail

template <class Body, class Fail>
void contain(const char* where, Body&& body, Fail&& fail) noexcept {
  try {
    body();
  } catch (const std::bad_alloc&) {
    detail::answer_contained(where, Contained{"out of memory", true}, fail);
  } catch (const std::exception& e) {
    detail::answer_contained(where, Contained{e.what(), false}, fail);
  } catch (...) {
    detail::answer_contained(where, Contained{"unknown exception", false}, fail);
  }
}

}  // namespace mmapurl::core
