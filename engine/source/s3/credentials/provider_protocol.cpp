// Parsers for AWS credential documents (XML from STS, JSON from containers, IMDS and
// credential_process) and builders for the requests that fetch them.
#include "source/s3/credentials/provider_protocol.hpp"

#include "source/s3/aws_xml.hpp"
#include "source/s3/credentials/iso8601_time.hpp"
#include "source/s3/credentials/json_reader.hpp"
#include "source/s3/signing/uri_encoding.hpp"

namespace mmapurl::s3 {
namespace {

CredentialsParse credentials_from_json(std::string_view json, const char* token_field,
                                       const char* what) {
  CredentialsParse result;
  auto doc = parse_json(json);
  if (!doc || doc->kind != JsonValue::Kind::kObject) {
    result.error = std::string(what) + ": response is not a JSON object";
    return result;
  }
  auto key_id = doc->string_member("AccessKeyId");
  auto secret = doc->string_member("SecretAccessKey");
  if (!key_id || key_id->empty() || !secret || secret->empty()) {
    result.error = std::string(what) + ": response lacks AccessKeyId or SecretAccessKey";
    return result;
  }
  Credentials creds;
  creds.access_key_id = *key_id;
  creds.secret_access_key = *secret;
  creds.session_token = doc->string_member(token_field).value_or("");
  if (auto expiration = doc->string_member("Expiration")) {
    creds.expiration = parse_iso8601(*expiration);
    if (!creds.expiration) {
      result.error = std::string(what) + ": unreadable Expiration";
      return result;
    }
  }
  result.credentials = std::move(creds);
  return result;
}

std::optional<HttpRequestSpec> imds_request(std::string_view endpoint, const char* method,
                                            std::string path, std::string& error) {
  source::UrlParse parsed = source::parse_http_url(endpoint, source::UrlUse::kEndpoint);
  if (!parsed.url) {
    error = "instance metadata endpoint " + parsed.error();
    return std::nullopt;
  }
  // The request's path goes below the endpoint's; the endpoint's query is dropped.
  std::string base(parsed.url->path());
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpRequestSpec spec;
  spec.method = method;
  spec.url = std::move(*parsed.url);
  spec.url.target = base + path;
  spec.headers.emplace_back("Host", spec.url.host_header());
  return spec;
}

}  // namespace

std::optional<HttpRequestSpec> sts_web_identity_request(const WebIdentitySettings& settings,
                                                        std::string_view web_identity_token,
                                                        std::string& error) {
  std::string endpoint = settings.sts_endpoint_url.value_or(
      settings.region.empty()
          ? std::string("https://sts.amazonaws.com")
          : "https://sts." + settings.region +
                (settings.region.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com"));
  source::UrlParse parsed = source::parse_http_url(endpoint, source::UrlUse::kEndpoint);
  if (!parsed.url) {
    error = "STS endpoint " + parsed.error();
    return std::nullopt;
  }
  if (settings.role_arn.empty() || web_identity_token.empty()) {
    error = "web identity needs a role ARN and a token";
    return std::nullopt;
  }
  HttpRequestSpec spec;
  spec.method = "POST";
  spec.url = std::move(*parsed.url);
  spec.headers.emplace_back("Host", spec.url.host_header());
  spec.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  spec.headers.emplace_back("Accept", "application/xml");
  spec.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
              uri_encode(settings.role_arn, false) +
              "&RoleSessionName=" + uri_encode(settings.role_session_name, false) +
              "&WebIdentityToken=" + uri_encode(web_identity_token, false);
  spec.headers.emplace_back("Content-Length", std::to_string(spec.body.size()));
  return spec;
}

CredentialsParse parse_sts_web_identity_response(std::string_view xml) {
  CredentialsParse result;
  if (auto error = parse_aws_error(xml)) {
    result.error = "STS AssumeRoleWithWebIdentity failed: " + error->code +
                   (error->message.empty() ? "" : ": " + error->message);
    return result;
  }
  std::optional<std::string_view> credentials = xml_element_content(xml, "Credentials");
  if (!credentials) {
    result.error = "STS response has no <Credentials>";
    return result;
  }
  std::string_view block = *credentials;
  auto key_id = xml_element_text(block, "AccessKeyId");
  auto secret = xml_element_text(block, "SecretAccessKey");
  auto token = xml_element_text(block, "SessionToken");
  auto expiration = xml_element_text(block, "Expiration");
  if (!key_id || key_id->empty() || !secret || secret->empty() || !token || token->empty()) {
    result.error = "STS response lacks AccessKeyId, SecretAccessKey or SessionToken";
    return result;
  }
  Credentials creds{*key_id, *secret, *token, std::nullopt};
  if (expiration) {
    creds.expiration = parse_iso8601(*expiration);
    if (!creds.expiration) {
      result.error = "STS response has an unreadable Expiration";
      return result;
    }
  }
  result.credentials = std::move(creds);
  return result;
}

CredentialsParse parse_container_credentials(std::string_view json) {
  return credentials_from_json(json, "Token", "container credentials");
}

CredentialsParse parse_credential_process_output(std::string_view json) {
  auto doc = parse_json(json);
  if (doc && doc->kind == JsonValue::Kind::kObject) {
    const JsonValue* version = doc->find("Version");
    if (version == nullptr || version->kind != JsonValue::Kind::kNumber || version->text != "1") {
      return {std::nullopt, "credential_process: output must have \"Version\": 1"};
    }
  }
  return credentials_from_json(json, "SessionToken", "credential_process");
}

std::optional<HttpRequestSpec> imds_token_request(std::string_view endpoint, std::string& error) {
  auto spec = imds_request(endpoint, "PUT", "/latest/api/token", error);
  if (spec) {
    spec->headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", "21600");
    spec->headers.emplace_back("Content-Length", "0");
  }
  return spec;
}

std::optional<HttpRequestSpec> imds_role_name_request(std::string_view endpoint,
                                                      std::string_view token, std::string& error) {
  auto spec = imds_request(endpoint, "GET", "/latest/meta-data/iam/security-credentials/", error);
  if (spec) spec->headers.emplace_back("X-aws-ec2-metadata-token", std::string(token));
  return spec;
}

std::optional<std::string> parse_imds_role_name(std::string_view body) {
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty()) return std::string(line);
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<HttpRequestSpec> imds_credentials_request(std::string_view endpoint,
                                                        std::string_view token,
                                                        std::string_view role_name,
                                                        std::string& error) {
  if (role_name.empty()) {
    error = "instance metadata returned no role name";
    return std::nullopt;
  }
  auto spec = imds_request(
      endpoint, "GET", "/latest/meta-data/iam/security-credentials/" + uri_encode(role_name, false),
      error);
  if (spec) spec->headers.emplace_back("X-aws-ec2-metadata-token", std::string(token));
  return spec;
}

CredentialsParse parse_imds_credentials(std::string_view json) {
  auto doc = parse_json(json);
  if (doc && doc->kind == JsonValue::Kind::kObject) {
    if (auto code = doc->string_member("Code"); code && *code != "Success") {
      return {std::nullopt, "instance metadata credentials: Code " + *code};
    }
  }
  return credentials_from_json(json, "Token", "instance metadata credentials");
}

}  // namespace mmapurl::s3
