// S3 endpoint resolution: parses a custom endpoint URL (scheme, host, port, base path) or
// builds AWS's regional host, then chooses virtual-hosted or path-style addressing.
#include "source/s3/s3_endpoint.hpp"

#include <charconv>

#include "source/s3/s3_url.hpp"
#include "source/s3/uri_encoding.hpp"

namespace mmapurl::s3 {
namespace {

struct ParsedEndpoint {
  std::string scheme;
  std::string host;
  uint16_t port = 0;
  bool explicit_port = false;
  bool ipv6 = false;
  std::string base_path;  // without trailing slash; "" for none
};

std::optional<ParsedEndpoint> parse_endpoint_url(std::string_view url, std::string& error) {
  ParsedEndpoint out;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    error = "endpoint URL needs http:// or https://";
    return std::nullopt;
  }
  for (char c : url.substr(0, sep)) {
    out.scheme.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (out.scheme != "http" && out.scheme != "https") {
    error = "endpoint URL scheme must be http or https";
    return std::nullopt;
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    error = "endpoint URL may not have a query or fragment";
    return std::nullopt;
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    out.base_path = std::string(path);
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "endpoint URL may not carry user information";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "endpoint URL has an unterminated IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    out.ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "endpoint URL has junk after its IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "endpoint URL has no host";
    return std::nullopt;
  }
  for (char c : out.host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || (out.ipv6 && (c == ':' || c == '%'));
    if (!ok) {
      error = "endpoint URL host has invalid characters";
      return std::nullopt;
    }
  }
  out.port = out.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      error = "endpoint URL has an invalid port";
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(value);
    out.explicit_port = true;
  }
  return out;
}

bool valid_region(std::string_view region) {
  if (region.empty() || region.size() > 63) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
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
  ParsedEndpoint base;
  bool custom = settings.endpoint_url.has_value();
  if (custom) {
    auto parsed = parse_endpoint_url(*settings.endpoint_url, result.error);
    if (!parsed) {
      result.error += " (" + settings.endpoint_source + ")";
      return result;
    }
    base = std::move(*parsed);
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
    path_style = base.ipv6;  // an address literal cannot take a bucket label
  } else {
    path_style = custom;
  }

  S3Endpoint endpoint;
  endpoint.scheme = base.scheme;
  endpoint.port = base.port;
  endpoint.path_style = path_style;
  endpoint.region = settings.region;
  endpoint.host = path_style ? base.host : std::string(bucket) + "." + base.host;
  endpoint.host_header = base.ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
  if (base.explicit_port && base.port != (base.scheme == "https" ? 443 : 80)) {
    endpoint.host_header += ":" + std::to_string(base.port);
  }
  endpoint.request_target = base.base_path + "/";
  if (path_style) endpoint.request_target += uri_encode(bucket, false) + "/";
  endpoint.request_target += uri_encode(key, /*keep_slash=*/true);
  result.endpoint = std::move(endpoint);
  return result;
}

}  // namespace mmapurl::s3
