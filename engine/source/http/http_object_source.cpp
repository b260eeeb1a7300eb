// HttpObjectSource: request building with snapshot conditions, and proxy selection.
#include "source/http/http_object_source.hpp"

namespace mmapurl::source {

HttpObjectSource::HttpObjectSource(HttpUrl url, net::Origin origin)
    : url_(std::move(url)), origin_(std::move(origin)) {}

net::RequestSpec HttpObjectSource::range_request(uint64_t first, uint64_t last, bool pinned) {
  net::RequestSpec r;
  r.target = url_.target;
  r.host_header = url_.host_header();
  r.headers.push_back({"Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)});
  if (pinned) {
    // A weak ETag never satisfies If-Match: fall back to the modification date.
    if (!identity_.etag.empty() && !identity_.etag_weak) {
      r.headers.push_back({"If-Match", identity_.etag});
    } else if (!identity_.last_modified.empty()) {
      r.headers.push_back({"If-Unmodified-Since", identity_.last_modified});
    }
  }
  return r;
}

std::string apply_proxy_environment(const HttpUrl& url, net::Origin* origin,
                                    const ProxyEnvLookup& env) {
  ProxyChoice choice = choose_proxy(url.tls, url.host, url.port, env);
  origin->proxy_host = std::move(choice.host);
  origin->proxy_port = choice.port;
  return std::move(choice.error);
}

}  // namespace mmapurl::source
