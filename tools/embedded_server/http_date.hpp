// IMF-fixdate (RFC 9110) formatting and parsing, for Last-Modified and If-Unmodified-Since.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::testserver {

std::string format_http_date(std::time_t t);  // "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::time_t> parse_http_date(std::string_view text);  // IMF-fixdate only

}  // namespace mmapurl::testserver
