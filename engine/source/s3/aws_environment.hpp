// What the AWS configuration code may read from the outside world, behind two functions, so
// tests control the environment and the files completely.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace mmapurl::s3 {

// Looks an environment variable up; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
// Reads a whole file; std::nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;

struct AwsEnvironment {
  EnvLookup env;
  FileReader read_file;

  // The variable's value, or std::nullopt when unset or empty (AWS tools treat both alike).
  std::optional<std::string> get(const char* name) const;
};

// getenv() and the real file system (files capped at 1 MiB: config files are small).
AwsEnvironment process_aws_environment();

// Expands a leading "~/" with $HOME (the SDKs do so for AWS_CONFIG_FILE and friends).
std::string expand_home(const std::string& path, const AwsEnvironment& environment);

}  // namespace mmapurl::s3
