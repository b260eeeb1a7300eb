// Where S3 requests go and how they are addressed, as configured by the environment and the
// active profile: endpoint URL, region and addressing style, with the SDKs' precedence.
#pragma once

#include <optional>
#include <string>

#include "source/s3/config/aws_config_files.hpp"
#include "source/s3/config/aws_environment.hpp"

namespace mmapurl::s3 {

enum class S3AddressingStyle { kAuto, kPath, kVirtual };

struct S3Settings {
  std::optional<std::string> endpoint_url;  // none: AWS itself
  std::string endpoint_source;              // which setting gave endpoint_url, for messages
  std::string region = "us-east-1";
  bool region_configured = false;  // false: us-east-1 is only a default. Either way, a region
                                   // S3 names for the bucket (x-amz-bucket-region) wins.
  S3AddressingStyle addressing = S3AddressingStyle::kAuto;
};

// Endpoint: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, then the profile's endpoint_url (all
// ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true or the profile's
// ignore_configured_endpoint_urls=true). Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's
// region. Addressing: MMAPURL_S3_ADDRESSING (path|virtual|auto), then the profile's
// "s3 = / addressing_style".
S3Settings load_s3_settings(const AwsEnvironment& environment, const ActiveProfile& profile);

}  // namespace mmapurl::s3
