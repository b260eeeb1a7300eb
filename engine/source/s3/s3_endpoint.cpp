// S3 endpoint resolution: parses a custom endpoint URL (scheme, host, port, base path) or
// builds AWS's regional host, then chooses virtual-hosted or path-style addressing.
#include "source/s3/s3_endpoint.hpp"

#include "source/s3/http_url.hpp"
#include "source/s3/s3_url.hpp"
#include "source/s3/uri_encoding.hpp"

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
bool is_ip_literal(const HttpUrl& url) {
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
  HttpUrl base;
  bool custom = settings.endpoint_url.has_value();
  if (custom) {
    auto parsed = parse_http_url(*settings.endpoint_url, result.error);
    if (parsed && !parsed->query.empty()) {
      parsed.reset();
      result.error = "URL may not have a query";
    }
    if (!parsed) {
      result.error = "S3 endpoint " + result.error + " (" + settings.endpoint_source + ")";
      return result;
    }
    base = std::move(*parsed);
    while (!base.path.empty() && base.path.back() == '/') base.path.pop_back();
  } else {
    bool china = settings.region.rfind("cn-", 0) == 0;
    base.scheme = "https";
    base.port = 443;
    base.host = "s3." + settings.region + (china ? ".amazonaws.com.cn" : ".amazonaws.com");
  }

  bool dotted_over_tls = base.scheme == "https" && bucket.find('.') != std::string_view::npos;
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
  endpoint.scheme = base.scheme;
  endpoint.port = base.port;
  endpoint.path_style = path_style;
  endpoint.region = settings.region;
  endpoint.host = path_style ? base.host : std::string(bucket) + "." + base.host;
  HttpUrl connect = base;
  connect.host = endpoint.host;
  endpoint.host_header = connect.host_header();
  endpoint.request_target = base.path + "/";
  if (path_style) endpoint.request_target += uri_encode(bucket, false) + "/";
  endpoint.request_target += uri_encode(key, /*keep_slash=*/true);
  result.endpoint = std::move(endpoint);
  return result;
}

}  // namespace mmapurl::s3
