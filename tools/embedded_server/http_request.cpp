// Request head and Range parsing for the embedded test server (see http_request.hpp).
// Lenient where real servers are lenient, strict where a wrong guess would hide a client bug.
#include "embedded_server/http_request.hpp"

#include <cctype>
#include <charconv>

namespace mmapurl::testserver {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool contains_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// All-digit decimal that fits in 64 bits.
std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<RequestHead> parse_request_head(std::string_view head) {
  RequestHead req;
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0) {
    return std::nullopt;
  }
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const std::string_view version = line.substr(sp2 + 1);
  if (req.target.empty() || version.substr(0, 5) != "HTTP/") return std::nullopt;
  req.path = req.target.substr(0, req.target.find('?'));
  const bool http10 = version == "HTTP/1.0";
  bool keep_alive_token = false;

  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Range")) {
      req.range = std::string(value);
    } else if (iequals(name, "If-Match")) {
      req.if_match = std::string(value);
    } else if (iequals(name, "If-Unmodified-Since")) {
      req.if_unmodified_since = std::string(value);
    } else if (iequals(name, "Connection")) {
      if (contains_token(value, "close")) req.wants_close = true;
      if (contains_token(value, "keep-alive")) keep_alive_token = true;
    } else if (iequals(name, "Content-Length")) {
      const auto n = parse_u64(value);
      if (!n) return std::nullopt;
      req.content_length = *n;
    } else if (iequals(name, "Transfer-Encoding")) {
      return std::nullopt;  // request bodies are never chunked by our clients
    }
  }
  if (http10 && !keep_alive_token) req.wants_close = true;
  return req;
}

ResolvedRange resolve_range(const std::optional<std::string>& header, uint64_t total) {
  ResolvedRange whole;
  if (!header) return whole;
  std::string_view spec = trim(*header);
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos || !iequals(trim(spec.substr(0, eq)), "bytes")) return whole;
  spec = trim(spec.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return whole;  // no multipart answers
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view first_text = trim(spec.substr(0, dash));
  const std::string_view last_text = trim(spec.substr(dash + 1));
  ResolvedRange r;
  r.kind = ResolvedRange::Kind::kUnsatisfiable;
  if (first_text.empty()) {  // suffix: the last n bytes
    const auto n = parse_u64(last_text);
    if (!n) return whole;
    if (*n == 0 || total == 0) return r;
    r.kind = ResolvedRange::Kind::kPartial;
    r.first = *n >= total ? 0 : total - *n;
    r.last = total - 1;
    return r;
  }
  const auto first = parse_u64(first_text);
  if (!first) return whole;
  uint64_t last = UINT64_MAX;
  if (!last_text.empty()) {
    const auto parsed = parse_u64(last_text);
    if (!parsed || *parsed < *first) return whole;
    last = *parsed;
  }
  if (*first >= total) return r;
  r.kind = ResolvedRange::Kind::kPartial;
  r.first = *first;
  r.last = last >= total ? total - 1 : last;
  return r;
}

bool if_match_satisfied(std::string_view if_match, std::string_view etag) {
  if (trim(if_match) == "*") return !etag.empty();
  if (etag.empty() || etag.substr(0, 2) == "W/") return false;
  while (!if_match.empty()) {
    const size_t comma = if_match.find(',');
    const std::string_view tag = trim(if_match.substr(0, comma));
    if (tag == etag) return true;  // a weak tag ("W/...") never equals a strong one
    if (comma == std::string_view::npos) break;
    if_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace mmapurl::testserver
