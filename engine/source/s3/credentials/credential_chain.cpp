// Credential chain resolution over an injected environment, file reader and process runner,
// so the order and every rule are unit-tested; the network providers come back as plans.
#include "source/s3/credentials/credential_chain.hpp"

#include "source/s3/config/aws_config_files.hpp"
#include "source/s3/credentials/credential_endpoint_rules.hpp"
#include "source/s3/redact.hpp"
#include "source/url/http_url.hpp"

namespace mmapurl::s3 {
namespace {

std::string trim(std::string text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// Static keys from one profile section; sets `partial` when only one half is there.
std::optional<Credentials> static_keys(const std::optional<AwsProfile>& section, bool& partial) {
  if (!section) return std::nullopt;
  auto get = [&](const char* key) -> std::string {
    auto it = section->find(key);
    return it == section->end() ? std::string() : it->second;
  };
  std::string id = get("aws_access_key_id");
  std::string secret = get("aws_secret_access_key");
  if (id.empty() && secret.empty()) return std::nullopt;
  if (id.empty() || secret.empty()) {
    partial = true;
    return std::nullopt;
  }
  std::string token = get("aws_session_token");
  if (token.empty()) token = get("aws_security_token");
  return Credentials{id, secret, token, std::nullopt};
}

// An http:// (not https) AWS_CONTAINER_CREDENTIALS_FULL_URI naming an address literal is judged
// here; a name is judged on the addresses it resolves to, when the request connects (the
// container provider checks every address with container_endpoint_address_problem). A name's
// spelling proves nothing: "127.attacker.example" resolves wherever its owner wants.
bool container_host_allowed(const source::HttpUrl& url) {
  if (url.tls) return true;
  boost::system::error_code ec;
  auto literal = boost::asio::ip::make_address(url.host, ec);
  if (ec) return true;
  return container_http_address_allowed(literal);
}

std::optional<std::string> first_of(const AwsEnvironment& env, const ActiveProfile& profile,
                                    const char* variable, const char* property) {
  if (auto value = env.get(variable)) return value;
  return profile.get(property);
}

// What a step of the chain leaves to the next: kStop when it found credentials or a fatal error;
// kContinue when it noted in `tried` why it gave nothing, or planned a network provider.
enum class Step { kContinue, kStop };

Step from_environment(const AwsEnvironment& environment, CredentialChainResult& result) {
  auto env_id = environment.get("AWS_ACCESS_KEY_ID");
  auto env_secret = environment.get("AWS_SECRET_ACCESS_KEY");
  if (env_id && env_secret) {
    std::string token = environment.get("AWS_SESSION_TOKEN")
                            .value_or(environment.get("AWS_SECURITY_TOKEN").value_or(""));
    result.credentials = Credentials{*env_id, *env_secret, token, std::nullopt};
    result.provider = "environment";
    return Step::kStop;
  }
  if (env_id || env_secret) {
    result.fatal_error = std::string("incomplete AWS credentials in the environment: ") +
                         (env_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") + " is not set";
    return Step::kStop;
  }
  result.tried.push_back("environment (AWS_ACCESS_KEY_ID not set)");
  return Step::kContinue;
}

Step from_shared_files(const ActiveProfile& profile, CredentialChainResult& result) {
  if (profile.named_explicitly && !profile.exists()) {
    result.fatal_error = "AWS profile \"" + profile.name + "\" not found in " +
                         profile.credentials_path + " or " + profile.config_path;
    return Step::kStop;
  }
  bool partial = false;
  if (auto creds = static_keys(profile.from_credentials, partial)) {
    result.credentials = std::move(creds);
    result.provider =
        "shared credentials file (" + profile.credentials_path + ", profile " + profile.name + ")";
    return Step::kStop;
  }
  if (auto creds = static_keys(profile.from_config, partial)) {
    result.credentials = std::move(creds);
    result.provider = "config file (" + profile.config_path + ", profile " + profile.name + ")";
    return Step::kStop;
  }
  if (partial) {
    result.fatal_error = "AWS profile \"" + profile.name +
                         "\" has only one of aws_access_key_id and aws_secret_access_key";
    return Step::kStop;
  }
  result.tried.push_back("shared files (profile " + profile.name + " has no keys)");
  return Step::kContinue;
}

// Why a credential_process run gave no output to read ("" when it exited with status 0). The
// first line of its stderr is quoted, redacted: helpers print what went wrong there.
std::string process_failure(const ProcessOutput& output, const std::string& what) {
  if (!output.started) return what + ": " + output.error;
  if (output.timed_out) return what + " timed out";
  if (output.exit_status == 0) return "";
  std::string first_line = output.stderr_text.substr(0, output.stderr_text.find('\n'));
  if (first_line.size() > 200) first_line.resize(200);
  return what + " exited with status " + std::to_string(output.exit_status) +
         (first_line.empty() ? "" : ": " + redact(first_line));
}

// A configured credential_process ends the chain, with credentials or with why not.
Step from_credential_process(const ActiveProfile& profile, const ProcessRunner& run_process,
                             CredentialChainResult& result) {
  std::optional<std::string> command = profile.get("credential_process");
  if (!command) {
    result.tried.push_back("credential_process (not configured)");
    return Step::kContinue;
  }
  if (!run_process) {
    result.fatal_error = "credential_process is configured but cannot be run here";
    return Step::kStop;
  }
  ProcessOutput output = run_process(*command);
  std::string what = "credential_process of profile " + profile.name;
  if (std::string failure = process_failure(output, what); !failure.empty()) {
    result.fatal_error = std::move(failure);
    return Step::kStop;
  }
  CredentialsParse parsed = parse_credential_process_output(output.stdout_text);
  if (!parsed.credentials) {
    result.fatal_error = what + ": " + parsed.error;
    return Step::kStop;
  }
  result.credentials = std::move(parsed.credentials);
  result.provider = what;
  return Step::kStop;
}

// A profile that assumes a role is refused rather than skipped: the chain would otherwise go on
// to other credentials than the ones the profile names.
Step refuse_unsupported_profiles(const ActiveProfile& profile, CredentialChainResult& result) {
  if (profile.get("source_profile") || profile.get("credential_source")) {
    result.fatal_error = "AWS profile \"" + profile.name +
                         "\" assumes a role through source_profile/credential_source, which "
                         "mmapurl does not support; export the role's credentials instead";
    return Step::kStop;
  }
  if (profile.get("sso_session") || profile.get("sso_start_url")) {
    result.tried.push_back("SSO (not supported: run `aws configure export-credentials`)");
  }
  return Step::kContinue;
}

WebIdentitySettings web_identity_settings(const AwsEnvironment& environment,
                                          const ActiveProfile& profile, const std::string& role_arn,
                                          std::chrono::system_clock::time_point now) {
  WebIdentitySettings settings;
  settings.role_arn = role_arn;
  settings.role_session_name =
      first_of(environment, profile, "AWS_ROLE_SESSION_NAME", "role_session_name")
          .value_or("mmapurl-" + std::to_string(std::chrono::system_clock::to_time_t(now)));
  std::optional<std::string> region = environment.get("AWS_REGION");
  if (!region) region = environment.get("AWS_DEFAULT_REGION");
  if (!region) region = profile.get("region");
  settings.region = region.value_or("");
  if (auto sts = environment.get("AWS_ENDPOINT_URL_STS")) settings.sts_endpoint_url = sts;
  return settings;
}

// Web identity: the environment's token file and role first, then the profile's.
void plan_web_identity(const AwsEnvironment& environment, const ActiveProfile& profile,
                       std::chrono::system_clock::time_point now, CredentialChainResult& result) {
  std::optional<std::string> token_file =
      first_of(environment, profile, "AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file");
  std::optional<std::string> role_arn = first_of(environment, profile, "AWS_ROLE_ARN", "role_arn");
  if (!token_file || !role_arn) {
    result.tried.push_back("web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN not set)");
    return;
  }
  std::optional<std::string> token_path = expand_home(*token_file, environment);
  std::optional<std::string> token =
      environment.read_file && token_path ? environment.read_file(*token_path) : std::nullopt;
  if (!token || trim(*token).empty()) {
    result.tried.push_back("web identity (cannot read token file " + *token_file + ")");
    return;
  }
  std::string error;
  auto request = sts_web_identity_request(
      web_identity_settings(environment, profile, *role_arn, now), trim(*token), error);
  if (!request) {
    result.tried.push_back("web identity (" + error + ")");
    return;
  }
  result.network_providers.push_back({NetworkProviderKind::kWebIdentity,
                                      "web identity (role " + *role_arn + ")", std::move(request),
                                      ""});
}

// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (below the ECS agent) wins over _FULL_URI.
std::optional<std::string> container_url(const AwsEnvironment& environment) {
  if (auto relative = environment.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    return "http://169.254.170.2" + (relative->front() == '/' ? *relative : "/" + *relative);
  }
  return environment.get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
}

struct ContainerAuthorization {
  std::optional<std::string> token;  // the Authorization header's value, when one is configured
  std::string unreadable;            // why the token file could not be read
};

// The token file wins over the token itself.
ContainerAuthorization container_authorization(const AwsEnvironment& environment) {
  ContainerAuthorization out;
  if (auto auth_file = environment.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
    auto text = environment.read_file ? environment.read_file(*auth_file) : std::nullopt;
    if (text) {
      out.token = trim(*text);
    } else {
      out.unreadable = "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    }
  } else {
    out.token = environment.get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  }
  return out;
}

HttpRequestSpec container_request(source::HttpUrl url, const std::optional<std::string>& token) {
  HttpRequestSpec spec;
  spec.method = "GET";
  spec.url = std::move(url);
  spec.headers.emplace_back("Host", spec.url.host_header());
  spec.headers.emplace_back("Accept", "application/json");
  if (token && !token->empty()) spec.headers.emplace_back("Authorization", *token);
  return spec;
}

Step plan_container_credentials(const AwsEnvironment& environment, CredentialChainResult& result) {
  std::optional<std::string> url_text = container_url(environment);
  if (!url_text) {
    result.tried.push_back("container credentials (AWS_CONTAINER_CREDENTIALS_*_URI not set)");
    return Step::kContinue;
  }
  source::UrlParse parsed = source::parse_http_url(*url_text, source::UrlUse::kEndpoint);
  std::optional<source::HttpUrl> url = std::move(parsed.url);
  std::string error = parsed.error();
  if (url && !container_host_allowed(*url)) {
    url.reset();
    error = "an http:// full URI must name loopback or a container agent host";
  }
  ContainerAuthorization auth = container_authorization(environment);
  if (!auth.unreadable.empty()) {
    url.reset();
    error = auth.unreadable;
  }
  if (auth.token) {
    if (std::string problem = authorization_token_problem(*auth.token); !problem.empty()) {
      // As the SDKs do: a token that cannot be sent is a configuration error, not a provider
      // to skip.
      result.fatal_error = "container credentials: " + problem;
      return Step::kStop;
    }
  }
  if (!url) {
    result.tried.push_back("container credentials (" + error + ")");
    return Step::kContinue;
  }
  result.network_providers.push_back({NetworkProviderKind::kContainer, "container credentials",
                                      container_request(std::move(*url), auth.token), ""});
  return Step::kContinue;
}

// The configured endpoint, else IPv6's or IPv4's by the endpoint mode.
std::string imds_endpoint(const AwsEnvironment& environment, const ActiveProfile& profile) {
  if (auto configured = first_of(environment, profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                 "ec2_metadata_service_endpoint")) {
    return *configured;
  }
  std::string mode = lower(first_of(environment, profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                    "ec2_metadata_service_endpoint_mode")
                               .value_or(""));
  return std::string(mode == "ipv6" ? kImdsIpv6Endpoint : kImdsDefaultEndpoint);
}

void plan_instance_metadata(const AwsEnvironment& environment, const ActiveProfile& profile,
                            CredentialChainResult& result) {
  if (lower(environment.get("AWS_EC2_METADATA_DISABLED").value_or("")) == "true") {
    result.tried.push_back("instance metadata (AWS_EC2_METADATA_DISABLED=true)");
    return;
  }
  std::string endpoint = imds_endpoint(environment, profile);
  source::UrlParse parsed = source::parse_http_url(endpoint, source::UrlUse::kEndpoint);
  if (!parsed.url) {
    result.tried.push_back("instance metadata (endpoint " + parsed.error() + ")");
    return;
  }
  result.network_providers.push_back(
      {NetworkProviderKind::kInstanceMetadata, "instance metadata", std::nullopt, endpoint});
}

}  // namespace

std::string CredentialChainResult::describe_failure() const {
  if (!fatal_error.empty()) return fatal_error;
  std::string out = "no AWS credentials found; tried: ";
  for (size_t i = 0; i < tried.size(); ++i) {
    if (i > 0) out += ", ";
    out += tried[i];
  }
  return out;
}

CredentialChainResult resolve_credentials(const AwsEnvironment& environment,
                                          const ProcessRunner& run_process,
                                          std::chrono::system_clock::time_point now) {
  CredentialChainResult result;
  if (from_environment(environment, result) == Step::kStop) return result;
  ActiveProfile profile = load_active_profile(environment);
  if (from_shared_files(profile, result) == Step::kStop) return result;
  if (from_credential_process(profile, run_process, result) == Step::kStop) return result;
  if (refuse_unsupported_profiles(profile, result) == Step::kStop) return result;
  // The network providers are planned, in order, for the caller to run.
  plan_web_identity(environment, profile, now, result);
  if (plan_container_credentials(environment, result) == Step::kStop) return result;
  plan_instance_metadata(environment, profile, result);
  return result;
}

}  // namespace mmapurl::s3
