// The AWS credential provider chain, in the SDKs' order: environment, shared credentials and
// config files, credential_process; then web identity, container and instance metadata,
// which need the network: for those this returns ready-made plans for the engine to execute.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "source/s3/config/aws_environment.hpp"
#include "source/s3/credentials/credential_process.hpp"
#include "source/s3/credentials/credentials.hpp"
#include "source/s3/credentials/provider_protocol.hpp"

namespace mmapurl::s3 {

enum class NetworkProviderKind { kWebIdentity, kContainer, kInstanceMetadata };

// One network provider, ready to run. Holds secrets (the web identity token, the container
// authorization header): never log it.
struct NetworkProvider {
  NetworkProviderKind kind;
  std::string name;  // for messages: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)" ...
  // kWebIdentity: POST it, read with parse_sts_web_identity_response.
  // kContainer: GET it, read with parse_container_credentials.
  std::optional<HttpRequestSpec> request;
  // kInstanceMetadata: imds_token_request / imds_role_name_request / imds_credentials_request
  // against this endpoint, then parse_imds_credentials.
  std::string imds_endpoint;
};

struct CredentialChainResult {
  std::optional<Credentials> credentials;
  std::string provider;  // who supplied them: "environment", "shared credentials file", ...
  // Network providers to try in order when `credentials` is empty and `fatal_error` is too.
  std::vector<NetworkProvider> network_providers;
  // Each provider looked at and why it gave nothing (no secrets), for the final message.
  std::vector<std::string> tried;
  // A configuration error that stops the chain (as the SDKs stop): partial keys, a missing
  // named profile, a failing credential_process.
  std::string fatal_error;

  // "no AWS credentials found; tried: environment (...), ..." or the fatal error.
  std::string describe_failure() const;
};

// Resolves what can be resolved without the network. `run_process` runs credential_process
// (run_credential_process in production); `now` names web identity sessions.
CredentialChainResult resolve_credentials(const AwsEnvironment& environment,
                                          const ProcessRunner& run_process,
                                          std::chrono::system_clock::time_point now);

}  // namespace mmapurl::s3
