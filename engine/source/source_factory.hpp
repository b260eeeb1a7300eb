// make_object_source: the source for a URL, by scheme. Runs on the calling application
// thread, so that S3 credential providers (files, credential_process, IMDS) may block briefly
// without stalling the engine loop.
#pragma once

#include <memory>
#include <string>

#include "source/object_source.hpp"

namespace mmapurl::source {

struct SourceOrError {
  std::unique_ptr<ObjectSource> source;
  SourceError error = SourceError::kNone;  // why source is null (core/outcome_codes.cpp maps it)
  std::string message;                     // redacted
};

// Fails with kInvalidUrl for a malformed URL (or S3 endpoint or region), kUnusableProxy for a
// proxy variable that applies to the URL but names a proxy the engine cannot use
// (source/http/proxy_environment.hpp), kPermission when an s3:// URL finds no credentials.
SourceOrError make_object_source(const std::string& url);

// The http(s) part, also used to follow redirects.
SourceOrError make_http_source(const std::string& url);

}  // namespace mmapurl::source
