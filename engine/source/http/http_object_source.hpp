// HttpObjectSource: an object behind an http(s) URL, read by ranged GETs with the URL's path
// and query sent byte for byte (presigned URLs keep working).
#pragma once

#include "source/http/http_url.hpp"
#include "source/object_source.hpp"

namespace mmapurl::source {

class HttpObjectSource : public ObjectSource {
 public:
  explicit HttpObjectSource(HttpUrl url, net::Origin origin);
  const net::Origin& origin() const override { return origin_; }
  net::RequestSpec range_request(uint64_t first, uint64_t last, bool pinned) override;
  std::string describe() const override { return url_.redacted(); }
  const HttpUrl& url() const { return url_; }

 private:
  HttpUrl url_;
  net::Origin origin_;
};

// The proxy for a URL as curl reads the environment: https_proxy / HTTPS_PROXY for https,
// only lower-case http_proxy for http (upper-case HTTP_PROXY is ignored, against httpoxy),
// no_proxy / NO_PROXY; fills origin->proxy_host/port. Pure apart from the injected lookup.
void apply_proxy_environment(const HttpUrl& url, net::Origin* origin,
                             const std::function<std::optional<std::string>(const char*)>& env);

}  // namespace mmapurl::source
