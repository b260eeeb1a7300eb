// AWS credentials as the signer and the credential providers exchange them.
// Secrets live only here: nothing that formats messages may print these fields (see redact.hpp).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace mmapurl::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;                                        // empty for long-term keys
  std::optional<std::chrono::system_clock::time_point> expiration;  // none: never expires
};

// True when the credentials expire within `margin` of `now` (refresh before they do).
inline bool expires_within(const Credentials& creds, std::chrono::system_clock::time_point now,
                           std::chrono::seconds margin) {
  return creds.expiration.has_value() && *creds.expiration <= now + margin;
}

}  // namespace mmapurl::s3
