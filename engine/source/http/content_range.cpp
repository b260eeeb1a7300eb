// Content-Range parsing (RFC 9110 §14.4) for the HTTP source.
#include "source/http/content_range.hpp"

#include <charconv>

namespace mmapurl::source {

static std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> parse_decimal(std::string_view value) {
  value = trim(value);
  if (value.empty() || value.size() > 19) return std::nullopt;
  uint64_t out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
  return out;
}

std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim(value);
  if (value.substr(0, 6) != "bytes ") return std::nullopt;
  value = trim(value.substr(6));
  size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view range = value.substr(0, slash);
  std::string_view total = value.substr(slash + 1);
  ContentRange out;
  if (total != "*") {
    out.total = parse_decimal(total);
    if (!out.total) return std::nullopt;
  }
  if (range == "*") {
    if (!out.total) return std::nullopt;
    out.unsatisfied = true;
    return out;
  }
  size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parse_decimal(range.substr(0, dash));
  auto last = parse_decimal(range.substr(dash + 1));
  if (!first || !last || *first > *last) return std::nullopt;
  if (out.total && *last >= *out.total) return std::nullopt;
  out.first = *first;
  out.last = *last;
  return out;
}

}  // namespace mmapurl::source
