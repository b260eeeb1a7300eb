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
  int code = 0;         // MMAP_S3_* when source is null
  std::string message;  // redacted
};

SourceOrError make_object_source(const std::string& url);

// The http(s) part, also used to follow redirects.
std::unique_ptr<ObjectSource> make_http_object_source(const std::string& url);

}  // namespace mmapurl::source
