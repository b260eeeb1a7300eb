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

  // 1. Environment.
  auto env_id = environment.get("AWS_ACCESS_KEY_ID");
  auto env_secret = environment.get("AWS_SECRET_ACCESS_KEY");
  if (env_id && env_secret) {
    std::string token = environment.get("AWS_SESSION_TOKEN")
                            .value_or(environment.get("AWS_SECURITY_TOKEN").value_or(""));
    result.credentials = Credentials{*env_id, *env_secret, token, std::nullopt};
    result.provider = "environment";
    return result;
  }
  if (env_id || env_secret) {
    result.fatal_error = std::string("incomplete AWS credentials in the environment: ") +
                         (env_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") + " is not set";
    return result;
  }
  result.tried.push_back("environment (AWS_ACCESS_KEY_ID not set)");

  // 2. Shared files.
  ActiveProfile profile = load_active_profile(environment);
  if (profile.named_explicitly && !profile.exists()) {
    result.fatal_error = "AWS profile \"" + profile.name + "\" not found in " +
                         profile.credentials_path + " or " + profile.config_path;
    return result;
  }
  bool partial = false;
  if (auto creds = static_keys(profile.from_credentials, partial)) {
    result.credentials = std::move(creds);
    result.provider =
        "shared credentials file (" + profile.credentials_path + ", profile " + profile.name + ")";
    return result;
  }
  if (auto creds = static_keys(profile.from_config, partial)) {
    result.credentials = std::move(creds);
    result.provider = "config file (" + profile.config_path + ", profile " + profile.name + ")";
    return result;
  }
  if (partial) {
    result.fatal_error = "AWS profile \"" + profile.name +
                         "\" has only one of aws_access_key_id and aws_secret_access_key";
    return result;
  }
  result.tried.push_back("shared files (profile " + profile.name + " has no keys)");

  // 3. credential_process.
  if (auto command = profile.get("credential_process")) {
    if (!run_process) {
      result.fatal_error = "credential_process is configured but cannot be run here";
      return result;
    }
    ProcessOutput output = run_process(*command);
    std::string what = "credential_process of profile " + profile.name;
    if (!output.started) {
      result.fatal_error = what + ": " + output.error;
      return result;
    }
    if (output.timed_out) {
      result.fatal_error = what + " timed out";
      return result;
    }
    if (output.exit_status != 0) {
      std::string first_line = output.stderr_text.substr(0, output.stderr_text.find('\n'));
      if (first_line.size() > 200) first_line.resize(200);
      result.fatal_error = what + " exited with status " + std::to_string(output.exit_status) +
                           (first_line.empty() ? "" : ": " + redact(first_line));
      return result;
    }
    CredentialsParse parsed = parse_credential_process_output(output.stdout_text);
    if (!parsed.credentials) {
      result.fatal_error = what + ": " + parsed.error;
      return result;
    }
    result.credentials = std::move(parsed.credentials);
    result.provider = what;
    return result;
  }
  result.tried.push_back("credential_process (not configured)");

  if (profile.get("source_profile") || profile.get("credential_source")) {
    result.fatal_error = "AWS profile \"" + profile.name +
                         "\" assumes a role through source_profile/credential_source, which "
                         "mmapurl does not support; export the role's credentials instead";
    return result;
  }
  if (profile.get("sso_session") || profile.get("sso_start_url")) {
    result.tried.push_back("SSO (not supported: run `aws configure export-credentials`)");
  }

  // 4. Web identity (environment first, then the profile).
  std::optional<std::string> token_file =
      first_of(environment, profile, "AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file");
  std::optional<std::string> role_arn = first_of(environment, profile, "AWS_ROLE_ARN", "role_arn");
  if (token_file && role_arn) {
    std::optional<std::string> token_path = expand_home(*token_file, environment);
    std::optional<std::string> token =
        environment.read_file && token_path ? environment.read_file(*token_path) : std::nullopt;
    if (!token || trim(*token).empty()) {
      result.tried.push_back("web identity (cannot read token file " + *token_file + ")");
    } else {
      WebIdentitySettings settings;
      settings.role_arn = *role_arn;
      settings.role_session_name =
          first_of(environment, profile, "AWS_ROLE_SESSION_NAME", "role_session_name")
              .value_or("mmapurl-" + std::to_string(std::chrono::system_clock::to_time_t(now)));
      std::optional<std::string> region = environment.get("AWS_REGION");
      if (!region) region = environment.get("AWS_DEFAULT_REGION");
      if (!region) region = profile.get("region");
      settings.region = region.value_or("");
      if (auto sts = environment.get("AWS_ENDPOINT_URL_STS")) settings.sts_endpoint_url = sts;
      std::string error;
      auto request = sts_web_identity_request(settings, trim(*token), error);
      if (request) {
        result.network_providers.push_back({NetworkProviderKind::kWebIdentity,
                                            "web identity (role " + *role_arn + ")",
                                            std::move(request), ""});
      } else {
        result.tried.push_back("web identity (" + error + ")");
      }
    }
  } else {
    result.tried.push_back("web identity (AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN not set)");
  }

  // 5. Container credentials.
  std::optional<std::string> container_url;
  if (auto relative = environment.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
    container_url =
        "http://169.254.170.2" + (relative->front() == '/' ? *relative : "/" + *relative);
  } else if (auto full = environment.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
    container_url = full;
  }
  if (container_url) {
    source::UrlParse parsed = source::parse_http_url(*container_url, source::UrlUse::kEndpoint);
    std::optional<source::HttpUrl> url = std::move(parsed.url);
    std::string error = parsed.error();
    if (url && !container_host_allowed(*url)) {
      url.reset();
      error = "an http:// full URI must name loopback or a container agent host";
    }
    std::optional<std::string> auth;
    if (auto auth_file = environment.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      auto text = environment.read_file ? environment.read_file(*auth_file) : std::nullopt;
      if (!text) {
        url.reset();
        error = "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
      } else {
        auth = trim(*text);
      }
    } else if (auto token = environment.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      auth = token;
    }
    if (auth) {
      if (std::string problem = authorization_token_problem(*auth); !problem.empty()) {
        // As the SDKs do: a token that cannot be sent is a configuration error, not a
        // provider to skip.
        result.fatal_error = "container credentials: " + problem;
        return result;
      }
    }
    if (url) {
      HttpRequestSpec spec;
      spec.method = "GET";
      spec.url = std::move(*url);
      spec.headers.emplace_back("Host", spec.url.host_header());
      spec.headers.emplace_back("Accept", "application/json");
      if (auth && !auth->empty()) spec.headers.emplace_back("Authorization", *auth);
      result.network_providers.push_back(
          {NetworkProviderKind::kContainer, "container credentials", std::move(spec), ""});
    } else {
      result.tried.push_back("container credentials (" + error + ")");
    }
  } else {
    result.tried.push_back("container credentials (AWS_CONTAINER_CREDENTIALS_*_URI not set)");
  }

  // 6. Instance metadata (IMDSv2).
  if (lower(environment.get("AWS_EC2_METADATA_DISABLED").value_or("")) == "true") {
    result.tried.push_back("instance metadata (AWS_EC2_METADATA_DISABLED=true)");
  } else {
    std::string endpoint;
    if (auto configured = first_of(environment, profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                   "ec2_metadata_service_endpoint")) {
      endpoint = *configured;
    } else if (lower(first_of(environment, profile, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                              "ec2_metadata_service_endpoint_mode")
                         .value_or("")) == "ipv6") {
      endpoint = std::string(kImdsIpv6Endpoint);
    } else {
      endpoint = std::string(kImdsDefaultEndpoint);
    }
    source::UrlParse parsed = source::parse_http_url(endpoint, source::UrlUse::kEndpoint);
    if (parsed.url) {
      result.network_providers.push_back(
          {NetworkProviderKind::kInstanceMetadata, "instance metadata", std::nullopt, endpoint});
    } else {
      result.tried.push_back("instance metadata (endpoint " + parsed.error() + ")");
    }
  }
  return result;
}

}  // namespace mmapurl::s3
