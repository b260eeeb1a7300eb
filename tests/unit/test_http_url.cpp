// HttpUrl parsing: origins, targets kept byte for byte, malformed URLs refused, redirects.
#include <gtest/gtest.h>

#include "source/http/http_object_source.hpp"
#include "source/http/http_url.hpp"

using mmapurl::source::parse_http_url;
using mmapurl::source::resolve_location;

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
  std::string url = "https://b.s3.amazonaws.com/k%2Fx%20y?X-Amz-Signature=ab%2Bcd&X-Amz-Credential=A%2F1";
  auto u = parse_http_url(url);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/k%2Fx%20y?X-Amz-Signature=ab%2Bcd&X-Amz-Credential=A%2F1");
  // The redacted form never carries the query (signatures, credentials).
  EXPECT_EQ(u->redacted().find("Signature"), std::string::npos);
  EXPECT_EQ(parse_http_url("https://h/p#frag")->target, "/p");
}

TEST(HttpUrl, RefusesMalformed) {
  for (const char* bad : {"", "https://", "https:///p", "https://host", "https://host/", "ftp://h/p",
                          "https://h:0/p", "https://h:65536/p", "https://h:x/p", "https://u:p@h/p",
                          "https://h/p\r\nX: y", "https://h/a b", "https://h/\x01", "s3://b/k",
                          "https://[::1/p", "//h/p"}) {
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
