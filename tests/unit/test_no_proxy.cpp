// NO_PROXY matching (curl's rules plus per-entry ports) and the proxy variables: which proxy a
// URL takes, and which proxy values are refused, with messages that never echo a password.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "source/http/no_proxy.hpp"
#include "source/http/proxy_environment.hpp"

using mmapurl::source::choose_proxy;
using mmapurl::source::no_proxy_matches;
using mmapurl::source::parse_proxy_url;

TEST(NoProxy, EmptyListAndEmptyHostMatchNothing) {
  EXPECT_FALSE(no_proxy_matches("", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches(" , ,", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches("*", "", 443));
}

TEST(NoProxy, StarMatchesEveryHostAloneOrInAList) {
  EXPECT_TRUE(no_proxy_matches("*", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("*", "10.1.2.3", 80));
  EXPECT_TRUE(no_proxy_matches("*", "::1", 80));
  EXPECT_TRUE(no_proxy_matches("other.org, *", "example.com", 443));
}

TEST(NoProxy, NamesMatchThemselvesAndTheirSubdomainsOnly) {
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com", "a.b.example.com", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "notexample.com", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "example.com.evil.org", 443));
  EXPECT_FALSE(no_proxy_matches("a.example.com", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "com", 443));
}

TEST(NoProxy, NamesCompareWithoutRegardToCase) {
  EXPECT_TRUE(no_proxy_matches("LocalHost", "localhost", 80));
  EXPECT_TRUE(no_proxy_matches("localhost", "LOCALHOST", 80));
  EXPECT_TRUE(no_proxy_matches(".Example.COM", "s3.eu-west-1.example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com", "Bucket.EXAMPLE.com", 443));
}

TEST(NoProxy, LeadingDotOrStarDotAndTrailingDotsAreIgnored) {
  for (const char* entry : {".example.com", "*.example.com", "example.com.", ".example.com."}) {
    EXPECT_TRUE(no_proxy_matches(entry, "example.com", 443)) << entry;
    EXPECT_TRUE(no_proxy_matches(entry, "www.example.com", 443)) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "wwwexample.com", 443)) << entry;
  }
  EXPECT_TRUE(no_proxy_matches("example.com", "www.example.com.", 443));
  for (const char* empty : {".", "*.", ".."}) {
    EXPECT_FALSE(no_proxy_matches(empty, "example.com", 443)) << empty;
  }
}

TEST(NoProxy, CommasAndBlanksSeparateEntries) {
  const char* list = " one.org ,\ttwo.org,,three.org four.org ";
  for (const char* host : {"one.org", "two.org", "three.org", "four.org"}) {
    EXPECT_TRUE(no_proxy_matches(list, host, 443)) << host;
  }
  EXPECT_FALSE(no_proxy_matches(list, "five.org", 443));
}

TEST(NoProxy, AnEntryWithAPortMatchesOnlyThatPort) {
  EXPECT_TRUE(no_proxy_matches("example.com:8443", "example.com", 8443));
  EXPECT_FALSE(no_proxy_matches("example.com:8443", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches(".example.com:80", "www.example.com", 80));
  EXPECT_FALSE(no_proxy_matches(".example.com:80", "www.example.com", 443));
  EXPECT_TRUE(no_proxy_matches("127.0.0.1:8080", "127.0.0.1", 8080));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1:8080", "127.0.0.1", 8081));
  EXPECT_TRUE(no_proxy_matches("[::1]:8080", "::1", 8080));
  EXPECT_FALSE(no_proxy_matches("[::1]:8080", "::1", 80));
  // Without a port an entry matches every port.
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 1));
}

TEST(NoProxy, MalformedPortsMatchNothing) {
  for (const char* entry : {"example.com:", "example.com:0", "example.com:65536", "example.com:x",
                            "example.com:80:80", "[::1]:", "[::1]x", "[::1"}) {
    EXPECT_FALSE(no_proxy_matches(entry, "example.com", 80)) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "::1", 80)) << entry;
  }
  EXPECT_TRUE(no_proxy_matches("example.com:x, example.com", "example.com", 80))
      << "a malformed entry spoils only itself";
}

TEST(NoProxy, Ipv4AddressesAndBlocksMatchIpv4Hosts) {
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2", 80));
  EXPECT_TRUE(no_proxy_matches("10.0.0.0/8", "10.200.3.4", 443));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1", 443));
  EXPECT_TRUE(no_proxy_matches("192.168.1.128/25", "192.168.1.200", 443));
  EXPECT_FALSE(no_proxy_matches("192.168.1.128/25", "192.168.1.100", 443));
  EXPECT_TRUE(no_proxy_matches("172.16.0.0/12", "172.31.255.255", 443));
  EXPECT_FALSE(no_proxy_matches("172.16.0.0/12", "172.32.0.0", 443));
  EXPECT_TRUE(no_proxy_matches("10.1.2.3/32", "10.1.2.3", 443));
  EXPECT_FALSE(no_proxy_matches("10.1.2.3/32", "10.1.2.4", 443));
  EXPECT_TRUE(no_proxy_matches("0.0.0.0/0", "203.0.113.9", 443));
  EXPECT_FALSE(no_proxy_matches("0.0.0.0/0", "::1", 443)) << "a block matches its own family";
}

TEST(NoProxy, Ipv6AddressesAndBlocksWithOrWithoutBrackets) {
  for (const char* entry : {"::1", "[::1]", "::1/128", "[::1]/128", "[::1/128]"}) {
    EXPECT_TRUE(no_proxy_matches(entry, "::1", 443)) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "::2", 443)) << entry;
  }
  EXPECT_TRUE(no_proxy_matches("fd00::/8", "fd12:3456::1", 443));
  EXPECT_TRUE(no_proxy_matches("[fd00::]/8", "fdff::1", 443));
  EXPECT_FALSE(no_proxy_matches("fd00::/8", "fe80::1", 443));
  EXPECT_TRUE(no_proxy_matches("2001:db8::/32", "2001:DB8:0:1::5", 443)) << "hex in any case";
  EXPECT_FALSE(no_proxy_matches("2001:db8::/32", "2001:db9::5", 443));
  EXPECT_TRUE(no_proxy_matches("2001:db8::/33", "2001:db8:7fff::1", 443));
  EXPECT_FALSE(no_proxy_matches("2001:db8::/33", "2001:db8:8000::1", 443));
  EXPECT_FALSE(no_proxy_matches("::1", "127.0.0.1", 443));
}

TEST(NoProxy, AddressesAndNamesNeverMatchEachOther) {
  // No name resolution: "localhost" is not 127.0.0.1 here, as for curl.
  EXPECT_FALSE(no_proxy_matches("localhost", "127.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "localhost", 80));
  // A name entry is no suffix of an address.
  EXPECT_FALSE(no_proxy_matches("0.0.1", "127.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("1", "10.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "10.example.com", 80));
}

TEST(NoProxy, MalformedBlocksMatchNothing) {
  for (const char* entry : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8/8",
                            "example.com/8", "[10.0.0.1]", "[fd00::/8]/8", "::1/129"}) {
    EXPECT_FALSE(no_proxy_matches(entry, "10.0.0.1", 80)) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "::1", 80)) << entry;
    EXPECT_FALSE(no_proxy_matches(entry, "example.com", 80)) << entry;
  }
}

// --- the proxy variables ---

namespace {
using Env = std::map<std::string, std::string>;

mmapurl::source::ProxyEnvLookup lookup_in(const Env& env) {
  return [&env](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST(ProxyUrl, ReadsHttpProxiesWithAndWithoutScheme) {
  struct Case {
    const char* value;
    const char* host;
    uint16_t port;
  } cases[] = {
      {"http://proxy.local:3128", "proxy.local", 3128},
      {"HTTP://proxy.local:3128/", "proxy.local", 3128},
      {"proxy.local:8080", "proxy.local", 8080},
      {"proxy.local", "proxy.local", 80},
      {"http://proxy.local", "proxy.local", 80},
      {"http://[::1]:3128", "::1", 3128},
      {"http://10.0.0.1:3128/some/path?q#f", "10.0.0.1", 3128},
  };
  for (const auto& c : cases) {
    auto p = parse_proxy_url(c.value, "HTTPS_PROXY");
    EXPECT_EQ(p.error, "") << c.value;
    EXPECT_EQ(p.host, c.host) << c.value;
    EXPECT_EQ(p.port, c.port) << c.value;
  }
}

TEST(ProxyUrl, RefusesWhatTheEngineCannotUseAndSaysWhy) {
  struct Case {
    const char* value;
    const char* says;
  } cases[] = {
      {"https://proxy.local:3128", "names an https:// proxy"},
      {"HTTPS://proxy.local", "names an https:// proxy"},
      {"socks5://proxy.local:1080", "names a socks5:// proxy"},
      {"socks5h://proxy.local:1080", "names a socks5h:// proxy"},
      {"ftp://proxy.local", "names a ftp:// proxy"},
      {"http://alice:secret@proxy.local:3128", "holds credentials"},
      {"http://alice@proxy.local:3128", "holds credentials"},
      {"alice:secret@proxy.local:3128", "holds credentials"},
      {"http://proxy.local:secret", "is not a proxy URL"},
      {"http://proxy.local:0", "is not a proxy URL"},
      {"http://proxy.local:65536", "is not a proxy URL"},
      {"http://proxy.local:", "is not a proxy URL"},
      {"http://", "is not a proxy URL"},
      {"http://:3128", "is not a proxy URL"},
      {"http://[::1", "is not a proxy URL"},
      {"http://[::1]x", "is not a proxy URL"},
      {"http://proxy local:3128", "is not a proxy URL"},
      {"://proxy.local", "is not a proxy URL"},
      {"ali:ce@x://proxy.local", "is not a proxy URL"},
  };
  for (const auto& c : cases) {
    auto p = parse_proxy_url(c.value, "HTTPS_PROXY");
    EXPECT_EQ(p.host, "") << c.value;
    EXPECT_EQ(p.error.rfind("HTTPS_PROXY ", 0), 0u) << c.value << ": " << p.error;
    EXPECT_NE(p.error.find(c.says), std::string::npos) << c.value << ": " << p.error;
    EXPECT_NE(p.error.find("NO_PROXY"), std::string::npos) << p.error;
    EXPECT_EQ(p.error.find("secret"), std::string::npos) << c.value << ": " << p.error;
    EXPECT_EQ(p.error.find("alice"), std::string::npos) << c.value << ": " << p.error;
    EXPECT_EQ(p.error.find("proxy.local"), std::string::npos)
        << "the value is never echoed: " << p.error;
  }
}

TEST(ProxyEnvironment, FollowsCurlsVariables) {
  Env env;
  auto env_lookup = lookup_in(env);
  EXPECT_EQ(choose_proxy(true, "example.com", 443, env_lookup).host, "");
  env["HTTPS_PROXY"] = "http://upper:1";
  EXPECT_EQ(choose_proxy(true, "example.com", 443, env_lookup).host, "upper");
  env["https_proxy"] = "http://lower:2";
  EXPECT_EQ(choose_proxy(true, "example.com", 443, env_lookup).host, "lower");
  env["https_proxy"] = "";  // empty is unset
  EXPECT_EQ(choose_proxy(true, "example.com", 443, env_lookup).host, "upper");
  // http:// reads only lower-case http_proxy (httpoxy), never the https variables.
  env["HTTP_PROXY"] = "http://evil:3";
  EXPECT_EQ(choose_proxy(false, "example.com", 80, env_lookup).host, "");
  env["http_proxy"] = "plain:4";
  auto plain = choose_proxy(false, "example.com", 80, env_lookup);
  EXPECT_EQ(plain.host, "plain");
  EXPECT_EQ(plain.port, 4);
}

TEST(ProxyEnvironment, NoProxyWinsAndTheLowerCaseFormFirst) {
  Env env = {{"HTTPS_PROXY", "http://proxy:3128"}, {"NO_PROXY", "Example.COM"}};
  auto env_lookup = lookup_in(env);
  EXPECT_EQ(choose_proxy(true, "bucket.example.com", 443, env_lookup).host, "");
  EXPECT_EQ(choose_proxy(true, "other.org", 443, env_lookup).host, "proxy");
  env["no_proxy"] = "other.org";  // the lower-case form is read, the upper-case one ignored
  EXPECT_EQ(choose_proxy(true, "other.org", 443, env_lookup).host, "");
  EXPECT_EQ(choose_proxy(true, "bucket.example.com", 443, env_lookup).host, "proxy");
}

TEST(ProxyEnvironment, AnUnusableProxyIsAnErrorUnlessNoProxyExemptsTheHost) {
  Env env = {{"https_proxy", "https://user:pw@proxy:3128"}, {"NO_PROXY", "internal.example"}};
  auto env_lookup = lookup_in(env);
  auto refused = choose_proxy(true, "example.com", 443, env_lookup);
  EXPECT_EQ(refused.host, "");
  EXPECT_NE(refused.error.find("https_proxy names an https:// proxy"), std::string::npos)
      << refused.error;
  EXPECT_EQ(refused.error.find("pw"), std::string::npos) << refused.error;
  // curl never reads the proxy variable for a host NO_PROXY lists: neither do we.
  auto exempt = choose_proxy(true, "internal.example", 443, env_lookup);
  EXPECT_EQ(exempt.error, "");
  EXPECT_EQ(exempt.host, "");
  // The https variable says nothing about http:// URLs.
  EXPECT_EQ(choose_proxy(false, "example.com", 80, env_lookup).error, "");
  env["http_proxy"] = "socks5://proxy:1080";
  EXPECT_NE(
      choose_proxy(false, "example.com", 80, env_lookup).error.find("http_proxy names a socks5://"),
      std::string::npos);
}

TEST(ProxyEnvironment, PortSpecificNoProxyEntriesUseTheUrlsPort) {
  Env env = {{"https_proxy", "http://proxy:3128"}, {"no_proxy", "localhost:8443"}};
  auto env_lookup = lookup_in(env);
  EXPECT_EQ(choose_proxy(true, "localhost", 8443, env_lookup).host, "");
  EXPECT_EQ(choose_proxy(true, "localhost", 443, env_lookup).host, "proxy");
}
