// S3ObjectSource: signing every request, reading S3 error documents, following a bucket to its
// region; and make_s3_object_source, which gathers URL, settings, endpoint and credentials.
#include "source/s3/s3_object_source.hpp"

#include <cstdlib>

#include "base/log.hpp"
#include "base/sha256_hmac.hpp"
#include "source/http/http_object_source.hpp"
#include "source/s3/addressing/bucket_region_cache.hpp"
#include "source/s3/aws_xml.hpp"
#include "source/s3/config/aws_config_files.hpp"
#include "source/s3/redact.hpp"
#include "source/s3/signing/sigv4_signer.hpp"
#include "source/s3/signing/uri_encoding.hpp"

namespace mmapurl::source {
namespace {

constexpr int kMaxRegionSwitches = 2;

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

net::Origin origin_of(const s3::S3Endpoint& endpoint) {
  net::Origin origin;
  origin.tls = endpoint.scheme == "https";
  origin.host = endpoint.host;
  origin.port = endpoint.port;
  // HTTPS_PROXY / NO_PROXY apply to S3 as to any https:// URL.
  HttpUrl url;
  url.tls = origin.tls;
  url.host = endpoint.host;
  url.port = endpoint.port;
  url.target = endpoint.request_target;
  apply_proxy_environment(url, &origin, [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (!value) return std::nullopt;
    return std::string(value);
  });
  return origin;
}

std::string endpoint_key(const s3::S3Settings& settings) {
  return settings.endpoint_url.value_or("");
}

}  // namespace

S3ObjectSource::S3ObjectSource(s3::S3Location location, s3::S3Settings settings,
                               s3::S3Endpoint endpoint,
                               std::shared_ptr<s3::RefreshingCredentials> credentials)
    : location_(std::move(location)),
      settings_(std::move(settings)),
      credentials_(std::move(credentials)) {
  set_endpoint(std::move(endpoint));
}

void S3ObjectSource::set_endpoint(s3::S3Endpoint endpoint) {
  endpoint_ = std::move(endpoint);
  origin_ = origin_of(endpoint_);
}

net::RequestSpec S3ObjectSource::object_request(const std::string& method,
                                                std::vector<net::HttpHeader> headers, bool pinned) {
  net::RequestSpec r;
  r.method = method;
  r.host_header = endpoint_.host_header;
  std::string query;
  if (pinned && !identity_.version_id.empty()) {
    query = "versionId=" + s3::uri_encode(identity_.version_id, false);
  }
  r.target = endpoint_.request_target + (query.empty() ? "" : "?" + query);
  r.headers = std::move(headers);
  if (!credentials_) return r;  // anonymous: unsigned

  s3::SigningRequest signing;
  signing.method = method;
  signing.canonical_uri = endpoint_.request_target;
  signing.query = query;
  signing.headers.emplace_back("Host", endpoint_.host_header);
  for (const auto& h : r.headers) signing.headers.emplace_back(h.name, h.value);
  signing.payload_hash = std::string(base::kEmptyPayloadSha256);
  s3::SigningScope scope{endpoint_.region, "s3", std::chrono::system_clock::now()};
  s3::Credentials creds = credentials_->current();
  auto signed_request = s3::sign_request(signing, creds, scope);
  if (!signed_request) {
    // OpenSSL failed (out of memory): unsigned, S3 will refuse it and the engine retries.
    MMAPURL_LOG(base::LogLevel::kError, "SigV4 signing failed for " + describe());
    return r;
  }
  for (auto& [name, value] : signed_request->headers_to_add) {
    r.headers.push_back({std::move(name), std::move(value)});
  }
  return r;
}

net::RequestSpec S3ObjectSource::range_request(uint64_t first, uint64_t last, bool pinned) {
  std::vector<net::HttpHeader> headers;
  headers.push_back({"Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)});
  if (pinned) {
    if (!identity_.etag.empty() && !identity_.etag_weak) {
      headers.push_back({"If-Match", identity_.etag});
    } else if (identity_.version_id.empty() && !identity_.last_modified.empty()) {
      headers.push_back({"If-Unmodified-Since", identity_.last_modified});
    }
  }
  return object_request("GET", std::move(headers), pinned);
}

std::optional<net::RequestSpec> S3ObjectSource::size_request() {
  return object_request("HEAD", {}, false);
}

SourceVerdict S3ObjectSource::classify_status(const net::ResponseHead& head,
                                              const std::string& body) const {
  auto error = s3::parse_aws_error(body);
  if (!error) return ObjectSource::classify_status(head, body);
  MMAPURL_LOG(base::LogLevel::kDebug,
              describe() + ": HTTP " + std::to_string(head.status) + " S3 " + error->code + ": " +
                  s3::redact(error->message) +
                  (error->request_id.empty() ? "" : " (request id " + error->request_id + ")"));
  std::string what = "S3 " + error->code + (error->message.empty() ? "" : ": " + error->message);
  what = s3::redact(what);
  const std::string& code = error->code;
  if (code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchVersion") {
    return {SourceError::kNotFound, what};
  }
  if (code == "ExpiredToken" || code == "TokenRefreshRequired") {
    if (credentials_ && credentials_->on_expired_token()) {
      return {SourceError::kTransient, what + " (refreshing credentials)"};
    }
    return {SourceError::kPermission, what};
  }
  if (code == "InvalidToken" && credentials_ && credentials_->changing_credentials()) {
    // Signed a moment before the credentials were replaced: the retry carries the new ones.
    return {SourceError::kTransient, what + " (credentials were just refreshed)"};
  }
  if (code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
      code == "InvalidToken" || code == "AllAccessDisabled" || code == "AccountProblem" ||
      code == "InvalidObjectState") {
    return {SourceError::kPermission, what};
  }
  if (code == "PreconditionFailed") {
    return {SourceError::kChanged, "object changed since it was mapped (" + what + ")"};
  }
  if (code == "SlowDown" || code == "InternalError" || code == "ServiceUnavailable" ||
      code == "RequestTimeout" || code == "RequestTimeTooSkewed" ||
      is_transient_status(head.status)) {
    return {SourceError::kTransient, what};
  }
  SourceVerdict fallback = ObjectSource::classify_status(head, body);
  fallback.message = what + " (HTTP " + std::to_string(head.status) + ")";
  return fallback;
}

// Followed whether or not a region was configured, as botocore (the AWS CLI) does: S3 names the
// bucket's region in x-amz-bucket-region (301 PermanentRedirect, and the 400 answer to a HEAD)
// or in the <Region> of a 400 AuthorizationHeaderMalformed.
bool S3ObjectSource::adapt_to(const net::ResponseHead& head, const std::string& body) {
  if (region_switches_ >= kMaxRegionSwitches) return false;
  unsigned s = head.status;
  if (s != 301 && s != 307 && s != 400 && s != 403) return false;
  std::string region;
  if (const std::string* h = head.find("x-amz-bucket-region")) region = *h;
  if (region.empty()) {
    if (auto error = s3::parse_aws_error(body)) region = error->region;
  }
  region = lower(region);
  if (region.empty() || region == endpoint_.region) return false;
  s3::S3Settings next = settings_;
  next.region = region;
  auto resolved = s3::resolve_endpoint(location_.bucket, location_.key, next);
  if (!resolved.endpoint) return false;
  MMAPURL_LOG(base::LogLevel::kInfo,
              "bucket " + location_.bucket + " is in region " + region + ", not " +
                  endpoint_.region +
                  (settings_.region_configured ? " (the configured region)" : ""));
  ++region_switches_;
  settings_.region = region;
  s3::remember_bucket_region(endpoint_key(settings_), location_.bucket, region);
  set_endpoint(std::move(*resolved.endpoint));
  return true;
}

SourceOrError make_s3_object_source(const std::string& url) {
  SourceOrError out;
  s3::S3UrlParse parsed = s3::parse_s3_url(url);
  if (!parsed.location) {
    out.error = SourceError::kInvalidUrl;
    out.message = "invalid s3:// URL: " + parsed.error;
    return out;
  }
  s3::AwsEnvironment environment = s3::process_aws_environment();
  s3::ActiveProfile profile = s3::load_active_profile(environment);
  s3::S3Settings settings = s3::load_s3_settings(environment, profile);
  // A region S3 itself named for the bucket wins over the configured one (botocore's cache).
  if (auto region = s3::cached_bucket_region(endpoint_key(settings), parsed.location->bucket)) {
    settings.region = *region;
  }
  auto endpoint = s3::resolve_endpoint(parsed.location->bucket, parsed.location->key, settings);
  if (!endpoint.endpoint) {
    out.error = SourceError::kInvalidUrl;
    out.message = "s3://" + parsed.location->bucket + ": " + endpoint.error;
    return out;
  }
  std::shared_ptr<s3::RefreshingCredentials> credentials;
  if (lower(environment.get("AWS_NO_SIGN_REQUEST").value_or("")) != "true") {
    s3::CredentialLookup lookup = s3::credentials_for(environment);
    if (!lookup.credentials) {
      out.error = SourceError::kPermission;
      out.message = "s3://" + parsed.location->bucket + "/" + parsed.location->key + ": " +
                    s3::redact(lookup.error) + " (set AWS_NO_SIGN_REQUEST=true for public objects)";
      return out;
    }
    MMAPURL_LOG(base::LogLevel::kDebug, "s3 credentials from " + lookup.credentials->provider());
    credentials = std::move(lookup.credentials);
  }
  out.source =
      std::make_unique<S3ObjectSource>(std::move(*parsed.location), std::move(settings),
                                       std::move(*endpoint.endpoint), std::move(credentials));
  return out;
}

}  // namespace mmapurl::source
