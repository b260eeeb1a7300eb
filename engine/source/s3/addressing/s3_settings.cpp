// Reads the S3 endpoint, region and addressing settings in the AWS SDKs' order of precedence,
// from an injected environment so that every rule is unit-tested.
#include "source/s3/addressing/s3_settings.hpp"

namespace mmapurl::s3 {
namespace {

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::optional<S3AddressingStyle> parse_style(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  std::string value = lower(*text);
  if (value == "path") return S3AddressingStyle::kPath;
  if (value == "virtual") return S3AddressingStyle::kVirtual;
  if (value == "auto") return S3AddressingStyle::kAuto;
  return std::nullopt;
}

}  // namespace

S3Settings load_s3_settings(const AwsEnvironment& environment, const ActiveProfile& profile) {
  S3Settings settings;
  bool ignore_endpoints =
      lower(environment.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").value_or("")) == "true" ||
      lower(profile.get("ignore_configured_endpoint_urls").value_or("")) == "true";
  if (!ignore_endpoints) {
    if (auto url = environment.get("AWS_ENDPOINT_URL_S3")) {
      settings.endpoint_url = url;
      settings.endpoint_source = "AWS_ENDPOINT_URL_S3";
    } else if (auto global = environment.get("AWS_ENDPOINT_URL")) {
      settings.endpoint_url = global;
      settings.endpoint_source = "AWS_ENDPOINT_URL";
    } else if (auto from_profile = profile.get("endpoint_url")) {
      settings.endpoint_url = from_profile;
      settings.endpoint_source = "endpoint_url of profile " + profile.name;
    }
  }
  std::optional<std::string> region = environment.get("AWS_REGION");
  if (!region) region = environment.get("AWS_DEFAULT_REGION");
  if (!region) region = profile.get("region");
  if (region) {
    settings.region = *region;
    settings.region_configured = true;
  }
  if (auto style = parse_style(environment.get("MMAPURL_S3_ADDRESSING"))) {
    settings.addressing = *style;
  } else if (auto from_profile = parse_style(profile.get("s3.addressing_style"))) {
    settings.addressing = *from_profile;
  }
  return settings;
}

}  // namespace mmapurl::s3
