// S3 endpoint resolution: parses a custom endpoint URL (scheme, host, port, base path) or
// builds AWS's regional host, then chooses virtual-hosted or path-style addressing.
#include "source/s3/addressing/s3_endpoint.hpp"

#include "source/s3/addressing/s3_url.hpp"
#include "source/s3/signing/uri_encoding.hpp"
#include "source/url/http_url.hpp"

namespace mmapurl::s3 {
namespace {

bool valid_region(std::string_view region) {
  if (region.empty() || region.size() > 63) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// An address literal cannot take a bucket label in front of it.
bool is_ip_literal(const source::HttpUrl& url) {
  if (url.ipv6) return true;
  for (char c : url.host) {
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  }
  return true;
}

// The custom endpoint's URL (its path without trailing slashes in `base_path`), or AWS's
// regional one; nothing, with `error`, for an endpoint URL that cannot be used.
std::optional<source::HttpUrl> endpoint_base(const S3Settings& settings, std::string* base_path,
                                             std::string* error) {
  if (!settings.endpoint_url) {
    bool china = settings.region.rfind("cn-", 0) == 0;
    source::HttpUrl aws;
    aws.tls = true;
    aws.port = 443;
    aws.host = "s3." + settings.region + (china ? ".amazonaws.com.cn" : ".amazonaws.com");
    return aws;
  }
  source::UrlParse parsed =
      source::parse_http_url(*settings.endpoint_url, source::UrlUse::kEndpoint);
  std::string why = parsed.error();
  if (parsed.url && !parsed.url->query().empty()) {
    parsed.url.reset();
    why = "URL may not have a query";
  }
  if (!parsed.url) {
    *error = "S3 endpoint " + why + " (" + settings.endpoint_source + ")";
    return std::nullopt;
  }
  *base_path = parsed.url->path();
  while (!base_path->empty() && base_path->back() == '/') base_path->pop_back();
  return parsed.url;
}

bool use_path_style(std::string_view bucket, BucketNameKind kind, const S3Settings& settings,
                    const source::HttpUrl& base) {
  bool dotted_over_tls = base.tls && bucket.find('.') != std::string_view::npos;
  if (settings.addressing == S3AddressingStyle::kPath || kind == BucketNameKind::kLegacy ||
      dotted_over_tls) {
    return true;
  }
  if (settings.addressing == S3AddressingStyle::kVirtual) return is_ip_literal(base);
  return settings.endpoint_url.has_value();
}

}  // namespace

S3EndpointResult resolve_endpoint(std::string_view bucket, std::string_view key,
                                  const S3Settings& settings) {
  S3EndpointResult result;
  BucketNameKind kind = classify_bucket_name(bucket);
  if (kind == BucketNameKind::kInvalid) {
    result.error = "invalid S3 bucket name";
    return result;
  }
  if (!valid_region(settings.region)) {
    result.error = "invalid AWS region name";
    return result;
  }
  std::string base_path;
  std::optional<source::HttpUrl> base = endpoint_base(settings, &base_path, &result.error);
  if (!base) return result;
  const bool path_style = use_path_style(bucket, kind, settings, *base);

  S3Endpoint endpoint;
  endpoint.scheme = base->scheme();
  endpoint.port = base->port;
  endpoint.path_style = path_style;
  endpoint.region = settings.region;
  endpoint.host = path_style ? base->host : std::string(bucket) + "." + base->host;
  source::HttpUrl connect = *base;
  connect.host = endpoint.host;
  endpoint.host_header = connect.host_header();
  endpoint.request_target = base_path + "/";
  if (path_style) endpoint.request_target += uri_encode(bucket, false) + "/";
  endpoint.request_target += uri_encode(key, /*keep_slash=*/true);
  result.endpoint = std::move(endpoint);
  return result;
}

}  // namespace mmapurl::s3
