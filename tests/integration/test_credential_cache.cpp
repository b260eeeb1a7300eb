// The process-wide credential cache: credentials a credential_process gave are kept per AWS
// configuration, and a service that switches among many configurations keeps a bounded number.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <string>

#include "fixtures/process.hpp"
#include "source/s3/credentials/credential_cache.hpp"

namespace mmapurl::s3 {
namespace {

TEST(CredentialCache, ManyConfigurationsKeepABoundedNumberAndEachStillResolves) {
  std::string error;
  auto dir = testing::TempDir::create("mmapurl-credential-cache", &error);
  ASSERT_TRUE(dir) << error;
  const std::string script = dir->path() + "/creds.sh";
  ASSERT_TRUE(testing::write_file(
      script,
      "#!/bin/sh\nprintf '{\"Version\":1,\"AccessKeyId\":\"AK%s\",\"SecretAccessKey\":\"S\"}' "
      "\"$1\"\n"));
  ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
  std::string config;
  for (int i = 0; i < 100; ++i) {
    config += "[profile p" + std::to_string(i) + "]\ncredential_process = " + script + " " +
              std::to_string(i) + "\n";
  }
  std::map<std::string, std::string> env = {{"HOME", "/home/u"}};
  AwsEnvironment environment;
  environment.env = [&env](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  environment.read_file = [&config](const std::string& path) -> std::optional<std::string> {
    if (path == "/home/u/.aws/config") return config;
    return std::nullopt;
  };
  for (int i = 0; i < 100; ++i) {
    env["AWS_PROFILE"] = "p" + std::to_string(i);
    auto lookup = credentials_for(environment);
    ASSERT_TRUE(lookup.credentials) << lookup.error;
    EXPECT_EQ(lookup.credentials->current().access_key_id, "AK" + std::to_string(i));
    EXPECT_LE(cached_credential_configurations(), 64u) << "after " << i + 1 << " profiles";
  }
  EXPECT_EQ(cached_credential_configurations(), 64u);
  // The first profile was forgotten, and resolves again.
  env["AWS_PROFILE"] = "p0";
  auto again = credentials_for(environment);
  ASSERT_TRUE(again.credentials) << again.error;
  EXPECT_EQ(again.credentials->current().access_key_id, "AK0");
}

}  // namespace
}  // namespace mmapurl::s3
