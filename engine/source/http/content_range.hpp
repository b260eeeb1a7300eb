// Parsing of the range headers of ranged GETs: Content-Range of a 206/416 and numbers in
// headers. Pure; every overflow or stray byte is a parse failure, never a wrong number.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mmapurl::source {

struct ContentRange {
  bool unsatisfied = false;  // "bytes */total" (a 416's answer)
  uint64_t first = 0;        // inclusive
  uint64_t last = 0;         // inclusive
  std::optional<uint64_t> total;  // absent for "bytes a-b/*"
};

std::optional<ContentRange> parse_content_range(std::string_view value);
std::optional<uint64_t> parse_decimal(std::string_view value);

}  // namespace mmapurl::source
