// Source selection by URL scheme.
#include "source/source_factory.hpp"

#include <cstdlib>

#include "mmapurl.h"
#include "source/http/http_object_source.hpp"
#include "source/http/http_url.hpp"

namespace mmapurl::source {

// Defined in source/s3/ (the S3 source); answers for s3:// URLs only.
SourceOrError make_s3_object_source(const std::string& url);

static std::optional<std::string> getenv_string(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

std::unique_ptr<ObjectSource> make_http_object_source(const std::string& url) {
  auto parsed = parse_http_url(url);
  if (!parsed) return nullptr;
  net::Origin origin;
  origin.tls = parsed->tls;
  origin.host = parsed->host;
  origin.port = parsed->port;
  apply_proxy_environment(*parsed, &origin, getenv_string);
  return std::make_unique<HttpObjectSource>(*parsed, origin);
}

SourceOrError make_object_source(const std::string& url) {
  SourceOrError out;
  if (url.size() >= 5 && (url.compare(0, 5, "s3://") == 0 || url.compare(0, 5, "S3://") == 0)) {
    return make_s3_object_source(url);
  }
  out.source = make_http_object_source(url);
  if (!out.source) {
    out.code = MMAP_S3_INVALID_S3URL;
    out.message = "malformed or unsupported URL (expected https://, http:// or s3://)";
  }
  return out;
}

}  // namespace mmapurl::source
