// The container credential endpoint rules: which resolved addresses an http:// endpoint may
// use, and which authorization tokens may be sent.
#include <gtest/gtest.h>

#include "source/s3/credentials/credential_endpoint_rules.hpp"

namespace mmapurl::s3 {
namespace {

using boost::asio::ip::address;
using boost::asio::ip::make_address;

std::vector<address> addresses(std::initializer_list<const char*> texts) {
  std::vector<address> out;
  for (const char* text : texts) out.push_back(make_address(text));
  return out;
}

TEST(ContainerEndpointAddresses, LoopbackAndTheAgentAddressesAreAllowed) {
  for (const char* text :
       {"127.0.0.1", "127.255.255.254", "127.1.2.3", "::1", "169.254.170.2", "169.254.170.23",
        "fd00:ec2::23", "::ffff:127.0.0.1", "::ffff:169.254.170.2"}) {
    EXPECT_TRUE(container_http_address_allowed(make_address(text))) << text;
  }
}

TEST(ContainerEndpointAddresses, EverythingElseIsRefused) {
  for (const char* text :
       {"10.0.0.1", "128.0.0.1", "126.255.255.255", "169.254.169.254", "169.254.170.3", "0.0.0.0",
        "::", "fd00:ec2::24", "fd00:ec2::254", "::ffff:10.0.0.1", "2001:db8::1", "93.184.216.34"}) {
    EXPECT_FALSE(container_http_address_allowed(make_address(text))) << text;
  }
}

// "127.attacker.example" resolving to an outside address, or to loopback and an outside one
// (a connection may try either): refused, naming the address.
TEST(ContainerEndpointAddresses, EveryResolvedAddressMustBeAllowedOverHttp) {
  EXPECT_EQ(container_endpoint_address_problem("http", addresses({"127.0.0.1", "::1"})), "");
  std::string problem = container_endpoint_address_problem("http", addresses({"203.0.113.9"}));
  EXPECT_NE(problem.find("203.0.113.9"), std::string::npos) << problem;
  EXPECT_NE(container_endpoint_address_problem("http", addresses({"127.0.0.1", "203.0.113.9"})),
            "");
  EXPECT_NE(container_endpoint_address_problem("http", {}), "");
  EXPECT_EQ(container_endpoint_address_problem("https", addresses({"203.0.113.9"})), "");
}

TEST(ContainerAuthorizationToken, ControlCharactersAreRefused) {
  EXPECT_EQ(authorization_token_problem("Bearer abc.DEF-123_=/+"), "");
  EXPECT_EQ(authorization_token_problem(""), "");
  for (const char* bad : {"abc\r\nX-Evil: 1", "abc\n", "\rabc", "a\tb", "a\x7f", "a\x01"}) {
    std::string problem = authorization_token_problem(bad);
    EXPECT_NE(problem.find("control character"), std::string::npos) << problem;
  }
  EXPECT_NE(authorization_token_problem(std::string("a\0b", 3)), "");
}

}  // namespace
}  // namespace mmapurl::s3
