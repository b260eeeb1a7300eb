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

static bool host_matches_no_proxy(const std::string& host, const std::string& list) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string entry = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    while (!entry.empty() && entry.front() == ' ') entry.erase(0, 1);
    while (!entry.empty() && entry.back() == ' ') entry.pop_back();
    if (entry == "*") return true;
    if (!entry.empty()) {
      if (entry.front() == '.') entry.erase(0, 1);
      if (host == entry ||
          (host.size() > entry.size() && host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
           host[host.size() - entry.size() - 1] == '.')) {
        return true;
      }
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

void apply_proxy_environment(const HttpUrl& url, net::Origin* origin,
                             const std::function<std::optional<std::string>(const char*)>& env) {
  auto get = [&](const char* lower, const char* upper) -> std::optional<std::string> {
    if (auto v = env(lower); v && !v->empty()) return v;
    if (auto v = env(upper); v && !v->empty()) return v;
    return std::nullopt;
  };
  auto no_proxy = get("no_proxy", "NO_PROXY");
  if (no_proxy && host_matches_no_proxy(url.host, *no_proxy)) return;
  // curl ignores upper-case HTTP_PROXY (CGI's HTTP_PROXY header injection): so do we.
  auto proxy = url.tls ? get("https_proxy", "HTTPS_PROXY") : env("http_proxy");
  if (!proxy || proxy->empty()) return;
  std::string p = *proxy;
  if (p.find("://") == std::string::npos) p = "http://" + p;
  auto parsed = parse_http_url(p + (p.back() == '/' ? "x" : "/x"));
  if (!parsed || parsed->tls) return;  // only plain-HTTP proxies are supported
  origin->proxy_host = parsed->host;
  origin->proxy_port = parsed->port == 0 ? 80 : parsed->port;
}

}  // namespace mmapurl::source
