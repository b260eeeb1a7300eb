// Turns bucket + key + settings into where to connect and what to put on the request line:
// virtual-hosted "BUCKET.s3.REGION.amazonaws.com" for AWS, path style where that cannot work.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "source/s3/addressing/s3_settings.hpp"

namespace mmapurl::s3 {

struct S3Endpoint {
  std::string scheme;  // "https" or "http"
  std::string host;    // to connect to (IPv6 literals without brackets)
  uint16_t port = 443;
  bool path_style = false;
  std::string host_header;     // value of the Host header (signed)
  std::string request_target;  // URI-encoded path: what goes on the request line and is signed
  std::string region;          // signing region
};

struct S3EndpointResult {
  std::optional<S3Endpoint> endpoint;
  std::string error;  // when endpoint is empty
};

// Path style is used for custom endpoints (unless addressing is "virtual"), for bucket names
// with dots over TLS (their certificate wildcard cannot match), for legacy bucket names, and
// when addressing is "path". The key is encoded once, every byte but A-Za-z0-9-._~ and '/'.
S3EndpointResult resolve_endpoint(std::string_view bucket, std::string_view key,
                                  const S3Settings& settings);

}  // namespace mmapurl::s3
