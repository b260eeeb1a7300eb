// Parses the ISO 8601 timestamps AWS returns for credential expirations
// ("2015-08-30T12:36:00Z", with optional fractional seconds or a +hh:mm offset).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace mmapurl::s3 {

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace mmapurl::s3
