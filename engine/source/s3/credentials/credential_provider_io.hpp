// The network half of the AWS credential chain: a small blocking HTTP/1.1 client (plain sockets,
// OpenSSL for https) that runs the plans resolve_credentials() returns (web identity, container,
// IMDSv2). Runs on application threads or the credential refresher, never on the engine loop.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "source/s3/config/aws_environment.hpp"
#include "source/s3/credentials/credential_chain.hpp"
#include "source/s3/credentials/credentials.hpp"
#include "source/s3/credentials/provider_protocol.hpp"

namespace mmapurl::s3 {

struct ProviderHttpResponse {
  bool connected = false;  // false: refused, unreachable or connect timeout
  bool complete = false;   // a whole response was read
  unsigned status = 0;
  std::string body;
  std::string error;  // without secrets
};

struct ProviderHttpTimeouts {
  std::chrono::milliseconds connect{1000};
  std::chrono::milliseconds total{5000};
};

// Judges the addresses a name resolved to: "" lets the connection use them, else why not.
using AddressCheck =
    std::function<std::string(const std::vector<boost::asio::ip::address>& resolved)>;

// One request with "Connection: close", the answer read to its end (Content-Length, chunked or
// close) by Beast's parser, within 1 MiB. Never throws. https verifies the certificate
// (AWS_CA_BUNDLE, else OpenSSL's defaults). With `check`, nothing is connected to unless every
// resolved address passes it.
ProviderHttpResponse perform_provider_request(const HttpRequestSpec& request,
                                              const ProviderHttpTimeouts& timeouts,
                                              const std::optional<std::string>& ca_bundle,
                                              const AddressCheck& check = {});

// Runs one network provider's plan. An instance metadata endpoint that did not answer a connect
// is remembered for the process: later calls fail at once (hosts without IMDS pay the timeout
// once, not per mapping).
CredentialsParse fetch_network_credentials(const NetworkProvider& provider,
                                           const AwsEnvironment& environment);

// The whole chain: resolve_credentials(), then each network provider in order.
struct ResolvedCredentials {
  std::optional<Credentials> credentials;
  std::string provider;                  // who supplied them
  bool from_network_or_process = false;  // worth caching: expensive to ask again
  std::string error;  // no credentials: the chain tried, or the fatal error (no secrets)
};
ResolvedCredentials resolve_credentials_with_network(const AwsEnvironment& environment);

}  // namespace mmapurl::s3
