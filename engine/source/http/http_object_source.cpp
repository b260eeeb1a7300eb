// HttpObjectSource: request building with snapshot conditions, and proxy selection.
#include "source/http/http_object_source.hpp"

#include "source/source_factory.hpp"

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

std::unique_ptr<ObjectSource> HttpObjectSource::redirected(const net::ResponseHead& head,
                                                           bool allow_tls_downgrade,
                                                           std::string* why) const {
  const std::string* location = head.find("location");
  std::optional<HttpUrl> next;
  if (location) next = resolve_location(url_, *location);
  if (!next) {
    *why = describe() + ": bad or too many redirects";
    return nullptr;
  }
  if (url_.tls && !next->tls && !allow_tls_downgrade) {
    *why = describe() + ": refused a redirect from https:// to http:// (" + next->redacted() +
           "); MMAPURL_ALLOW_TLS_DOWNGRADE=1 allows it";
    return nullptr;
  }
  auto made = make_http_source(std::string(next->tls ? "https://" : "http://") +
                               next->host_header() + next->target);
  if (!made.source) *why = "redirect to an unusable URL: " + made.message;
  return std::move(made.source);
}

}  // namespace mmapurl::source
