// Shared helpers of the fuzz targets: a property check that aborts with a message (so
// libFuzzer records the input as a crash) and splitting of the fuzz input into fields.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// Aborts when a property fails: libFuzzer then saves the input as crash-*.
#define FUZZ_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

namespace fuzz {

// Splits on `sep` (every occurrence; empty fields kept).
inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

// FUZZ_STRICT=1 turns on checks of known, deliberate-or-disputed engine behaviours (see README).
inline bool strict_mode() {
  static const bool strict = std::getenv("FUZZ_STRICT") != nullptr;
  return strict;
}

inline bool has_forbidden_bytes(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace fuzz
