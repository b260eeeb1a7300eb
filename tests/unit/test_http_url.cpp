// HttpUrl parsing: origins, targets kept byte for byte, malformed URLs refused, redirects, and
// the rules that differ between object URLs, endpoints and proxies.
#include <gtest/gtest.h>

#include "source/http/http_object_source.hpp"
#include "source/url/http_url.hpp"

using mmapurl::source::resolve_location;
using mmapurl::source::UrlProblem;
using mmapurl::source::UrlUse;

namespace {

std::optional<mmapurl::source::HttpUrl> parse_http_url(std::string_view url) {
  return mmapurl::source::parse_http_url(url, UrlUse::kObject).url;
}

mmapurl::source::UrlParse parse_endpoint(std::string_view url) {
  return mmapurl::source::parse_http_url(url, UrlUse::kEndpoint);
}

}  // namespace

TEST(HttpUrl, ParsesSchemesPortsAndTargets) {
  auto u = parse_http_url("https://example.com/a/b.bin");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/a/b.bin");
  EXPECT_EQ(u->host_header(), "example.com");
  auto h = parse_http_url("HTTP://127.0.0.1:8080/x");
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->tls);
  EXPECT_EQ(h->port, 8080);
  EXPECT_EQ(h->host_header(), "127.0.0.1:8080");
  auto v6 = parse_http_url("https://[::1]:8443/o");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header(), "[::1]:8443");
}

TEST(HttpUrl, KeepsPresignedQueryByteForByte) {
  std::string url =
      "https://b.s3.amazonaws.com/k%2Fx%20y?X-Amz-Signature=ab%2Bcd&X-Amz-Credential=A%2F1";
  auto u = parse_http_url(url);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/k%2Fx%20y?X-Amz-Signature=ab%2Bcd&X-Amz-Credential=A%2F1");
  // The redacted form never carries the query (signatures, credentials).
  EXPECT_EQ(u->redacted().find("Signature"), std::string::npos);
  EXPECT_EQ(parse_http_url("https://h/p#frag")->target, "/p");
}

TEST(HttpUrl, RefusesMalformed) {
  for (const char* bad :
       {"", "https://", "https:///p", "https://host", "https://host/", "ftp://h/p", "https://h:0/p",
        "https://h:65536/p", "https://h:x/p", "https://u:p@h/p", "https://h/p\r\nX: y",
        "https://h/a b", "https://h/\x01", "s3://b/k", "https://[::1/p", "//h/p"}) {
    EXPECT_FALSE(parse_http_url(bad)) << bad;
  }
}

TEST(HttpUrl, ResolvesRedirectLocations) {
  auto base = *parse_http_url("https://h:8443/dir/obj?q=1");
  EXPECT_EQ(resolve_location(base, "/other")->target, "/other");
  EXPECT_EQ(resolve_location(base, "sib")->target, "/dir/sib");
  auto abs = resolve_location(base, "http://o:81/z");
  ASSERT_TRUE(abs);
  EXPECT_FALSE(abs->tls);
  EXPECT_EQ(abs->host, "o");
  EXPECT_EQ(abs->port, 81);
  auto proto_rel = resolve_location(base, "//p/q");
  ASSERT_TRUE(proto_rel);
  EXPECT_TRUE(proto_rel->tls);
  EXPECT_EQ(proto_rel->host, "p");
  EXPECT_FALSE(resolve_location(base, "/x\r\ny"));
}

TEST(HttpUrl, EndpointsMayOmitPathAndQuery) {
  auto bare = parse_endpoint("HTTP://169.254.169.254");
  ASSERT_TRUE(bare.url);
  EXPECT_EQ(bare.url->scheme(), "http");
  EXPECT_EQ(bare.url->port, 80);
  EXPECT_EQ(bare.url->path(), "");
  EXPECT_EQ(bare.url->request_target(), "/");
  auto based = parse_endpoint("https://minio.local:9000/base/?x=1");
  ASSERT_TRUE(based.url);
  EXPECT_EQ(based.url->host_header(), "minio.local:9000");
  EXPECT_EQ(based.url->path(), "/base/");
  EXPECT_EQ(based.url->query(), "x=1");
  EXPECT_EQ(based.url->request_target(), "/base/?x=1");
  // An empty query is not sent.
  EXPECT_EQ(parse_endpoint("https://h/p?").url->request_target(), "/p");
  EXPECT_EQ(parse_endpoint("https://h?q").url->request_target(), "/?q");
  // The default port is left out of the Host header even when written.
  EXPECT_EQ(parse_endpoint("https://h:443").url->host_header(), "h");
}

TEST(HttpUrl, EndpointIpv6KeepsItsBrackets) {
  auto v6 = parse_endpoint("http://[fd00:ec2::254]");
  ASSERT_TRUE(v6.url);
  EXPECT_TRUE(v6.url->ipv6);
  EXPECT_EQ(v6.url->host, "fd00:ec2::254");
  EXPECT_EQ(v6.url->host_header(), "[fd00:ec2::254]");
  EXPECT_EQ(parse_endpoint("http://[fe80::1%25eth0]:8080").url->host_header(),
            "[fe80::1%25eth0]:8080");
}

TEST(HttpUrl, EndpointRefusalsSayWhy) {
  const std::pair<const char*, UrlProblem> cases[] = {
      {"https://h/a b", UrlProblem::kForbiddenBytes},
      {"", UrlProblem::kNoScheme},
      {"minio.local:9000", UrlProblem::kNoScheme},
      {"ftp://h", UrlProblem::kBadScheme},
      {"https://h/#f", UrlProblem::kFragment},
      {"https://u:p@h", UrlProblem::kUserInfo},
      {"https://[::1", UrlProblem::kUnterminatedIpv6},
      {"https://[::1]x", UrlProblem::kJunkAfterIpv6},
      {"https://", UrlProblem::kNoHost},
      {"https://:80", UrlProblem::kNoHost},
      {"https://h,i", UrlProblem::kBadHost},
      {"https://a:b:80", UrlProblem::kBadHost},
      {"https://h:", UrlProblem::kBadPort},
      {"https://h:0", UrlProblem::kBadPort},
      {"https://h:65536", UrlProblem::kBadPort},
  };
  for (const auto& [url, problem] : cases) {
    auto parsed = parse_endpoint(url);
    EXPECT_FALSE(parsed.url) << url;
    EXPECT_EQ(parsed.problem, problem) << url;
  }
  EXPECT_EQ(parse_endpoint("https://h:x").error(), "URL has an invalid port");
}

TEST(HttpUrl, ObjectUrlsAreLenientWhereEndpointsAreStrict) {
  // An object URL drops a fragment, takes "host:" as the default port and any host bytes.
  EXPECT_EQ(parse_http_url("https://h:/p")->port, 443);
  EXPECT_EQ(parse_http_url("https://h,i/p")->host, "h,i");
  EXPECT_EQ(mmapurl::source::parse_http_url("https://h", UrlUse::kObject).problem,
            UrlProblem::kNoObjectPath);
  // Its host goes in brackets when it holds a ':', whether or not it was written in them.
  EXPECT_EQ(parse_http_url("http://a:b:81/p")->host_header(), "[a:b]:81");
  EXPECT_EQ(parse_http_url("http://[name]/p")->host_header(), "name");
}

TEST(HttpUrl, ProxyUrlsKeepOnlyTheAuthority) {
  auto proxy = mmapurl::source::parse_http_url("http://proxy:3128/ignored#x", UrlUse::kProxy);
  ASSERT_TRUE(proxy.url);
  EXPECT_EQ(proxy.url->host, "proxy");
  EXPECT_EQ(proxy.url->port, 3128);
  EXPECT_EQ(mmapurl::source::parse_http_url("http://proxy:", UrlUse::kProxy).problem,
            UrlProblem::kBadPort);
}

TEST(HttpUrl, ProxyEnvironmentFollowsCurlRules) {
  auto url = *parse_http_url("https://example.com/o");
  std::map<std::string, std::string> env;
  auto lookup = [&](const char* n) -> std::optional<std::string> {
    auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  mmapurl::net::Origin o;
  mmapurl::source::apply_proxy_environment(url, &o, lookup);
  EXPECT_TRUE(o.proxy_host.empty());
  env["HTTPS_PROXY"] = "http://proxy.local:3128";
  mmapurl::source::apply_proxy_environment(url, &o, lookup);
  EXPECT_EQ(o.proxy_host, "proxy.local");
  EXPECT_EQ(o.proxy_port, 3128);
  mmapurl::net::Origin o2;
  env["NO_PROXY"] = "localhost,.example.com";
  mmapurl::source::apply_proxy_environment(url, &o2, lookup);
  EXPECT_TRUE(o2.proxy_host.empty());
  // Upper-case HTTP_PROXY is ignored for http:// (CGI header injection), as curl does.
  auto plain = *parse_http_url("http://other.org/o");
  env["HTTP_PROXY"] = "http://evil:1";
  mmapurl::net::Origin o3;
  mmapurl::source::apply_proxy_environment(plain, &o3, lookup);
  EXPECT_TRUE(o3.proxy_host.empty());
  env["http_proxy"] = "proxy2:8080";
  mmapurl::source::apply_proxy_environment(plain, &o3, lookup);
  EXPECT_EQ(o3.proxy_host, "proxy2");
  EXPECT_EQ(o3.proxy_port, 8080);
}
