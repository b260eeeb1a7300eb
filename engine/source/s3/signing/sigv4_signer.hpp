// AWS Signature Version 4 (header form): canonical request, string to sign, signing key and
// the headers a request must carry. Pure: the caller supplies the time and the credentials.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "source/s3/credentials/credentials.hpp"

namespace mmapurl::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SigningRequest {
  std::string method;         // "GET", "HEAD", ...
  std::string canonical_uri;  // the path exactly as sent (already URI-encoded for S3)
  std::string query;          // raw query string without '?', may be empty
  HeaderList headers;         // every header to sign; must include Host
  std::string payload_hash;   // hex SHA-256 of the body or "UNSIGNED-PAYLOAD"; empty = no body
};

struct SigningScope {
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
  std::chrono::system_clock::time_point time;
};

// S3's rules are the defaults: the path is signed as sent, never normalised or re-encoded, and
// x-amz-content-sha256 is always sent. The generic AWS test suite needs the other settings.
struct SigningOptions {
  bool normalize_path = false;  // remove dot segments and repeated slashes before signing
  bool double_encode = false;   // URI-encode the (already encoded) path once more
  bool add_content_sha256_header = true;
};

struct SigningResult {
  HeaderList headers_to_add;  // x-amz-date, [x-amz-content-sha256], [x-amz-security-token],
                              // Authorization, in that order
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // value of the Authorization header
};

// Signs `request`. std::nullopt only if OpenSSL fails. Headers named x-amz-date,
// x-amz-content-sha256 or x-amz-security-token in `request.headers` are signed as given and
// not added a second time.
std::optional<SigningResult> sign_request(const SigningRequest& request,
                                          const Credentials& credentials, const SigningScope& scope,
                                          const SigningOptions& options = {});

// "20130524T000000Z" (x-amz-date) for a time point, in UTC.
std::string amz_date(std::chrono::system_clock::time_point time);

// The canonical query string: parameters decoded, re-encoded with AWS rules, sorted.
std::string canonical_query_string(std::string_view raw_query);

// Removes "." and ".." segments and repeated slashes, as the generic SigV4 suite expects.
std::string normalize_uri_path(std::string_view path);

}  // namespace mmapurl::s3
