// Request builders and response parsers for the credential services that need the network
// (STS web identity, container credentials, IMDSv2) and for credential_process output. Pure: the
// engine performs the I/O and hands the bodies back here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "source/s3/credentials/credentials.hpp"
#include "source/url/http_url.hpp"

namespace mmapurl::s3 {

// An HTTP request to send as is (these services take no SigV4 signature). Bodies and some
// headers carry secrets (web identity token, IMDS token): never log them, use redact().
struct HttpRequestSpec {
  std::string method;
  source::HttpUrl url;  // sent to with url.request_target()
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct CredentialsParse {
  std::optional<Credentials> credentials;
  std::string error;  // without secrets
};

// ---- STS AssumeRoleWithWebIdentity (an unsigned POST with the OIDC token in the body).
struct WebIdentitySettings {
  std::string role_arn;
  std::string role_session_name;
  std::string region;  // regional STS endpoint; empty: the global sts.amazonaws.com
  std::optional<std::string> sts_endpoint_url;  // overrides the host (tests, private links)
};
std::optional<HttpRequestSpec> sts_web_identity_request(const WebIdentitySettings& settings,
                                                        std::string_view web_identity_token,
                                                        std::string& error);
CredentialsParse parse_sts_web_identity_response(std::string_view xml);

// ---- Container credentials (ECS / EKS Pod Identity): a GET whose JSON answer has
// AccessKeyId, SecretAccessKey, Token, Expiration.
CredentialsParse parse_container_credentials(std::string_view json);

// ---- credential_process output (Version 1 JSON).
CredentialsParse parse_credential_process_output(std::string_view json);

// ---- IMDSv2: PUT a token, GET the role name, GET the role's credentials.
inline constexpr std::string_view kImdsDefaultEndpoint = "http://169.254.169.254";
inline constexpr std::string_view kImdsIpv6Endpoint = "http://[fd00:ec2::254]";
std::optional<HttpRequestSpec> imds_token_request(std::string_view endpoint, std::string& error);
std::optional<HttpRequestSpec> imds_role_name_request(std::string_view endpoint,
                                                      std::string_view token, std::string& error);
// The role name: the first non-empty line of the listing.
std::optional<std::string> parse_imds_role_name(std::string_view body);
std::optional<HttpRequestSpec> imds_credentials_request(std::string_view endpoint,
                                                        std::string_view token,
                                                        std::string_view role_name,
                                                        std::string& error);
CredentialsParse parse_imds_credentials(std::string_view json);

}  // namespace mmapurl::s3
