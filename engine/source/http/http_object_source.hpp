// HttpObjectSource: an object behind an http(s) URL, read by ranged GETs with the URL's path
// and query sent byte for byte (presigned URLs keep working).
#pragma once

#include "source/http/proxy_environment.hpp"
#include "source/object_source.hpp"
#include "source/url/http_url.hpp"

namespace mmapurl::source {

class HttpObjectSource : public ObjectSource {
 public:
  explicit HttpObjectSource(HttpUrl url, net::Origin origin);
  const net::Origin& origin() const override { return origin_; }
  net::RequestSpec range_request(uint64_t first, uint64_t last, bool pinned) override;
  std::string describe() const override { return url_.redacted(); }
  // Follows Location (absolute or relative); never from https:// down to http:// unless allowed:
  // every range would travel in clear, and the ETag and Content-Range checks that pin the
  // snapshot could be forged on the way.
  std::unique_ptr<ObjectSource> redirected(const net::ResponseHead& head, bool allow_tls_downgrade,
                                           std::string* why) const override;
  const HttpUrl& url() const { return url_; }

 private:
  HttpUrl url_;
  net::Origin origin_;
};

// Sets origin->proxy_host/port to the proxy the environment names for the URL
// (source/http/proxy_environment.hpp). Returns why that proxy cannot be used ("" when it can, or
// when none applies); then the origin is left direct, and the caller must fail the mapping
// rather than connect with it.
std::string apply_proxy_environment(const HttpUrl& url, net::Origin* origin,
                                    const ProxyEnvLookup& env);

}  // namespace mmapurl::source
