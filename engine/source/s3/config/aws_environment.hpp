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

// The effective user's home directory from the passwd database; std::nullopt when none.
using PasswdHome = std::function<std::optional<std::string>()>;

struct AwsEnvironment {
  EnvLookup env;
  FileReader read_file;
  PasswdHome passwd_home;

  // The variable's value, or std::nullopt when unset or empty (AWS tools treat both alike).
  std::optional<std::string> get(const char* name) const;
};

// getenv(), the real file system (files capped at 1 MiB: config files are small, and are opened
// O_CLOEXEC) and getpwuid_r(geteuid()).
AwsEnvironment process_aws_environment();

// $HOME, else the passwd entry's directory; std::nullopt when neither names one.
std::optional<std::string> home_directory(const AwsEnvironment& environment);

// Expands a leading "~/" with home_directory() (the SDKs do so for AWS_CONFIG_FILE and friends).
// std::nullopt for a "~" path when there is no home directory: the path then names no file at
// all, never one under a directory called "~" in the working directory.
std::optional<std::string> expand_home(const std::string& path, const AwsEnvironment& environment);

}  // namespace mmapurl::s3
