// Fuzz target: the URL parser for object URLs, and redirect resolution. Input: "<url>\n<location>".
// Checks every accepted URL is sendable (target starts with '/', no control bytes or spaces,
// a host) and that redacted() never leaks the query.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "source/url/http_url.hpp"

using mmapurl::source::HttpUrl;
using mmapurl::source::UrlUse;

namespace {

void check_sendable(const HttpUrl& url) {
  FUZZ_CHECK(!url.host.empty());
  FUZZ_CHECK(!url.target.empty() && url.target.front() == '/');
  FUZZ_CHECK(!fuzz::has_forbidden_bytes(url.target));
  // A fragment is never sent (README, findings: strict-location-fragment-kept).
  if (fuzz::strict_mode()) FUZZ_CHECK(url.target.find('#') == std::string::npos);
  FUZZ_CHECK(!fuzz::has_forbidden_bytes(url.host));
  FUZZ_CHECK(url.port != 0);
  FUZZ_CHECK(!url.origin().empty());
  std::string header = url.host_header();
  FUZZ_CHECK(!fuzz::has_forbidden_bytes(header));
  // The query (presigned signatures) must not reach logs.
  std::string redacted = url.redacted();
  size_t q = url.target.find('?');
  if (q != std::string::npos) {
    std::string query = url.target.substr(q + 1);
    // A query that is a prefix of the "…" marker itself cannot be told apart: skip it.
    bool ambiguous = std::string_view("…").substr(0, query.size()) == query;
    if (!query.empty() && !ambiguous) {
      FUZZ_CHECK(redacted.find("?" + query) == std::string::npos);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view url = input.substr(0, nl);
  std::string_view location = nl == std::string_view::npos ? "" : input.substr(nl + 1);

  auto parsed = mmapurl::source::parse_http_url(url, UrlUse::kObject).url;
  if (parsed) {
    check_sendable(*parsed);
    // The raw URL must have been free of forbidden bytes to be accepted at all.
    FUZZ_CHECK(!fuzz::has_forbidden_bytes(url));
  }
  // Redirects are resolved against the parsed URL, or a fixed one when it did not parse.
  HttpUrl base =
      parsed ? *parsed
             : *mmapurl::source::parse_http_url("https://h.example/d/o?x=1", UrlUse::kObject).url;
  auto resolved = mmapurl::source::resolve_location(base, location.empty() ? url : location);
  if (resolved) check_sendable(*resolved);
  return 0;
}
