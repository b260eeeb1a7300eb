// IMF-fixdate formatting and parsing by hand: strftime/strptime depend on the process locale,
// which the application under test may have changed.
#include "embedded_server/http_date.hpp"

#include <cstdio>
#include <cstring>

namespace mmapurl::testserver {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  // "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 characters.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  const std::string s(text);
  char month[4] = {};
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str() + 5, "%2d %3c %4d %2d:%2d:%2d%n", &tm.tm_mday, month, &tm.tm_year,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 20) {
    return std::nullopt;
  }
  tm.tm_mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(month, kMonths[i]) == 0) tm.tm_mon = i;
  }
  if (tm.tm_mon < 0) return std::nullopt;
  tm.tm_year -= 1900;
  return timegm(&tm);
}

}  // namespace mmapurl::testserver
