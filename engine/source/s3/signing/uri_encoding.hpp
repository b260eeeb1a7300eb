// Percent-encoding with AWS's rules: everything except the unreserved set A-Za-z0-9-._~ is
// encoded, upper-case hex, byte by byte (so UTF-8 becomes %XX per byte).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::s3 {

// Encodes every byte outside A-Za-z0-9-._~; '/' is kept when `keep_slash` (object paths).
std::string uri_encode(std::string_view text, bool keep_slash);

// Decodes %XX escapes ('+' stays '+': AWS query strings are not form-encoded). Returns
// std::nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

// Appends code point `cp` as UTF-8 (for \u escapes in AWS's XML and JSON documents).
void append_utf8(std::string& out, uint32_t cp);

}  // namespace mmapurl::s3
