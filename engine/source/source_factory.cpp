// Source selection by URL scheme.
#include "source/source_factory.hpp"

#include <cstdlib>

#include "source/http/http_object_source.hpp"
#include "source/url/http_url.hpp"

namespace mmapurl::source {

// Defined in source/s3/ (the S3 source); answers for s3:// URLs only.
SourceOrError make_s3_object_source(const std::string& url);

static std::optional<std::string> getenv_string(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

// The proxy is judged before any I/O: a mapping never connects directly behind the user's back.
static void refuse_for_proxy(SourceOrError* out, const std::string& what, std::string why) {
  out->source.reset();
  out->error = SourceError::kUnusableProxy;
  out->message = what + ": " + std::move(why);
}

SourceOrError make_http_source(const std::string& url) {
  SourceOrError out;
  UrlParse parse = parse_http_url(url, UrlUse::kObject);
  if (!parse.url) {
    out.error = SourceError::kInvalidUrl;
    out.message =
        "malformed or unsupported URL (expected https://, http:// or s3://): " + parse.error();
    return out;
  }
  const HttpUrl& parsed = *parse.url;
  net::Origin origin;
  origin.tls = parsed.tls;
  origin.host = parsed.host;
  origin.port = parsed.port;
  if (std::string why = apply_proxy_environment(parsed, &origin, getenv_string); !why.empty()) {
    refuse_for_proxy(&out, parsed.redacted(), std::move(why));
    return out;
  }
  out.source = std::make_unique<HttpObjectSource>(parsed, origin);
  return out;
}

SourceOrError make_object_source(const std::string& url) {
  if (url.size() < 5 || (url.compare(0, 5, "s3://") != 0 && url.compare(0, 5, "S3://") != 0)) {
    return make_http_source(url);
  }
  SourceOrError out = make_s3_object_source(url);
  if (!out.source) return out;
  // The S3 source picks its proxy when it builds its endpoint and cannot fail there: judge the
  // endpoint's proxy here, before the source sends anything.
  const net::Origin& origin = out.source->origin();
  ProxyChoice proxy = choose_proxy(origin.tls, origin.host, origin.port, getenv_string);
  if (!proxy.error.empty()) refuse_for_proxy(&out, out.source->describe(), std::move(proxy.error));
  return out;
}

}  // namespace mmapurl::source
