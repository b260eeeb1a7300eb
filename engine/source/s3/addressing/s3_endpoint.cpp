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
  source::HttpUrl base;
  std::string base_path;  // the custom endpoint's path, without trailing slashes
  bool custom = settings.endpoint_url.has_value();
  if (custom) {
    source::UrlParse parsed =
        source::parse_http_url(*settings.endpoint_url, source::UrlUse::kEndpoint);
    std::string error = parsed.error();
    if (parsed.url && !parsed.url->query().empty()) {
      parsed.url.reset();
      error = "URL may not have a query";
    }
    if (!parsed.url) {
      result.error = "S3 endpoint " + error + " (" + settings.endpoint_source + ")";
      return result;
    }
    base = std::move(*parsed.url);
    base_path = base.path();
    while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  } else {
    bool china = settings.region.rfind("cn-", 0) == 0;
    base.tls = true;
    base.port = 443;
    base.host = "s3." + settings.region + (china ? ".amazonaws.com.cn" : ".amazonaws.com");
  }

  bool dotted_over_tls = base.tls && bucket.find('.') != std::string_view::npos;
  bool path_style;
  if (settings.addressing == S3AddressingStyle::kPath || kind == BucketNameKind::kLegacy ||
      dotted_over_tls) {
    path_style = true;
  } else if (settings.addressing == S3AddressingStyle::kVirtual) {
    path_style = is_ip_literal(base);
  } else {
    path_style = custom;
  }

  S3Endpoint endpoint;
  endpoint.scheme = base.scheme();
  endpoint.port = base.port;
  endpoint.path_style = path_style;
  endpoint.region = settings.region;
  endpoint.host = path_style ? base.host : std::string(bucket) + "." + base.host;
  source::HttpUrl connect = base;
  connect.host = endpoint.host;
  endpoint.host_header = connect.host_header();
  endpoint.request_target = base_path + "/";
  if (path_style) endpoint.request_target += uri_encode(bucket, false) + "/";
  endpoint.request_target += uri_encode(key, /*keep_slash=*/true);
  result.endpoint = std::move(endpoint);
  return result;
}

}  // namespace mmapurl::s3
