// Parsing of ~/.aws/credentials and ~/.aws/config (INI with AWS's conventions) and selection
// of the active profile from AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "source/s3/config/aws_environment.hpp"

namespace mmapurl::s3 {

// One profile's properties. Names are lower-cased; nested sub-properties (an indented block
// under "s3 =") are stored as "s3.addressing_style".
using AwsProfile = std::map<std::string, std::string>;
using AwsProfiles = std::map<std::string, AwsProfile>;

enum class AwsIniKind {
  kCredentials,  // sections are "[name]"
  kConfig,       // sections are "[profile name]", except "[default]"; others are ignored
};

// Parses one file. Malformed lines are skipped, as the SDKs tolerate them.
AwsProfiles parse_aws_ini(std::string_view text, AwsIniKind kind);

struct ActiveProfile {
  std::string name;               // AWS_PROFILE, else "default"
  bool named_explicitly = false;  // from AWS_PROFILE: a missing profile is then an error
  std::string credentials_path;
  std::string config_path;
  std::optional<AwsProfile> from_credentials;  // the profile's section in each file, if any
  std::optional<AwsProfile> from_config;

  bool exists() const { return from_credentials.has_value() || from_config.has_value(); }
  // A property, the credentials file winning over the config file (as botocore merges them).
  std::optional<std::string> get(const std::string& property) const;
};

ActiveProfile load_active_profile(const AwsEnvironment& environment);

}  // namespace mmapurl::s3
