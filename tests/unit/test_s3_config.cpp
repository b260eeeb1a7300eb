// AWS shared config/credentials INI parsing, active-profile selection, and the S3 settings
// (endpoint, region, addressing) precedence, all from a fake environment and fake files.
#include <gtest/gtest.h>

#include <map>

#include "source/s3/addressing/s3_settings.hpp"
#include "source/s3/config/aws_config_files.hpp"

namespace mmapurl::s3 {
namespace {

struct FakeWorld {
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;

  AwsEnvironment environment() const {
    AwsEnvironment e;
    e.env = [this](const char* name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    e.read_file = [this](const std::string& path) -> std::optional<std::string> {
      auto it = files.find(path);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
    return e;
  }
};

TEST(AwsIni, CredentialsFileSectionsCommentsAndWhitespace) {
  auto profiles = parse_aws_ini(
      "# comment\n"
      "; another comment\n"
      "[default]\r\n"
      "aws_access_key_id = AKIDDEFAULT\r\n"
      "AWS_Secret_Access_Key  =  secret/with+chars= ; trailing comment\n"
      "\n"
      "[ work ]   # comment after header\n"
      "aws_access_key_id=AKIDWORK\n"
      "aws_secret_access_key =\tsw\n"
      "no equals sign here\n"
      "[profile x]\n"
      "region = eu-west-1\n",
      AwsIniKind::kCredentials);
  ASSERT_EQ(profiles.count("default"), 1u);
  EXPECT_EQ(profiles["default"]["aws_access_key_id"], "AKIDDEFAULT");
  EXPECT_EQ(profiles["default"]["aws_secret_access_key"], "secret/with+chars=");
  EXPECT_EQ(profiles["work"]["aws_access_key_id"], "AKIDWORK");
  EXPECT_EQ(profiles["work"]["aws_secret_access_key"], "sw");
  // In the credentials file "[profile x]" is literally named "profile x".
  EXPECT_EQ(profiles["profile x"]["region"], "eu-west-1");
}

TEST(AwsIni, ConfigFileUsesProfilePrefixAndNestedSections) {
  auto profiles = parse_aws_ini(
      "[default]\n"
      "region = us-west-2\n"
      "[profile dev]\n"
      "region=eu-central-1\n"
      "s3 =\n"
      "  addressing_style = path\n"
      "  max_concurrent_requests = 20\n"
      "output = json\n"
      "[bare]\n"
      "region = ignored-1\n"
      "[sso-session corp]\n"
      "sso_region = us-east-1\n"
      "[profile   spaced   name ]\n"
      "region = ap-south-1\n"
      "[profile default]\n"
      "output = text\n",
      AwsIniKind::kConfig);
  EXPECT_EQ(profiles["default"]["region"], "us-west-2");
  EXPECT_EQ(profiles["default"]["output"], "text");
  EXPECT_EQ(profiles["dev"]["region"], "eu-central-1");
  EXPECT_EQ(profiles["dev"]["s3.addressing_style"], "path");
  EXPECT_EQ(profiles["dev"]["s3.max_concurrent_requests"], "20");
  EXPECT_EQ(profiles["dev"]["output"], "json");
  EXPECT_EQ(profiles.count("bare"), 0u);
  EXPECT_EQ(profiles.count("corp"), 0u);
  EXPECT_EQ(profiles["spaced   name"]["region"], "ap-south-1");
}

TEST(AwsIni, MultiLineValueContinues) {
  auto profiles = parse_aws_ini("[default]\nkey = first\n  second\n", AwsIniKind::kCredentials);
  EXPECT_EQ(profiles["default"]["key"], "first\nsecond");
}

TEST(ActiveProfile, DefaultsToHomeFilesAndDefaultProfile) {
  FakeWorld world;
  world.env["HOME"] = "/home/u";
  world.files["/home/u/.aws/credentials"] = "[default]\naws_access_key_id=A\nregion=from-creds\n";
  world.files["/home/u/.aws/config"] = "[default]\nregion=eu-west-3\noutput=json\n";
  auto profile = load_active_profile(world.environment());
  EXPECT_EQ(profile.name, "default");
  EXPECT_FALSE(profile.named_explicitly);
  EXPECT_TRUE(profile.exists());
  EXPECT_EQ(profile.get("aws_access_key_id"), "A");
  EXPECT_EQ(profile.get("output"), "json");
  EXPECT_EQ(profile.get("region"), "from-creds");  // the credentials file wins
  EXPECT_EQ(profile.get("missing"), std::nullopt);
}

// With HOME unset, "~/.aws/config" is the passwd entry's directory, and with no home directory
// at all it names no file: never "./~/.aws/config" under the working directory.
TEST(ActiveProfile, WithoutHomeTheTildePathsUseThePasswdEntryOrNothing) {
  FakeWorld world;
  world.files["~/.aws/config"] = "[default]\ncredential_process = /tmp/planted\n";
  world.files["~/.aws/credentials"] = "[default]\naws_access_key_id=PLANTED\n";
  world.files["/home/pw/.aws/config"] = "[default]\nregion=from-passwd-home\n";
  AwsEnvironment environment = world.environment();
  environment.passwd_home = [] { return std::optional<std::string>("/home/pw"); };
  auto profile = load_active_profile(environment);
  EXPECT_EQ(profile.config_path, "/home/pw/.aws/config");
  EXPECT_EQ(profile.get("region"), "from-passwd-home");
  EXPECT_EQ(profile.get("credential_process"), std::nullopt);
  EXPECT_EQ(profile.get("aws_access_key_id"), std::nullopt);

  environment.passwd_home = [] { return std::optional<std::string>(); };
  profile = load_active_profile(environment);
  EXPECT_FALSE(profile.exists());
  EXPECT_EQ(profile.get("credential_process"), std::nullopt);
  EXPECT_EQ(expand_home("~/.aws/config", environment), std::nullopt);
  EXPECT_EQ(expand_home("/abs/path", environment), "/abs/path");

  environment.passwd_home = nullptr;  // no passwd lookup at all: the same
  EXPECT_FALSE(load_active_profile(environment).exists());
}

TEST(ActiveProfile, EnvironmentChoosesFilesAndProfile) {
  FakeWorld world;
  world.env["HOME"] = "/home/u";
  world.env["AWS_PROFILE"] = "dev";
  world.env["AWS_SHARED_CREDENTIALS_FILE"] = "~/alt/creds";
  world.env["AWS_CONFIG_FILE"] = "/etc/aws.conf";
  world.files["/home/u/alt/creds"] = "[dev]\naws_access_key_id=D\n";
  world.files["/etc/aws.conf"] = "[profile dev]\nregion=sa-east-1\n[dev]\nregion=wrong\n";
  auto profile = load_active_profile(world.environment());
  EXPECT_EQ(profile.name, "dev");
  EXPECT_TRUE(profile.named_explicitly);
  EXPECT_EQ(profile.credentials_path, "/home/u/alt/creds");
  EXPECT_EQ(profile.get("aws_access_key_id"), "D");
  EXPECT_EQ(profile.get("region"), "sa-east-1");
}

TEST(S3Settings, DefaultsWhenNothingIsConfigured) {
  FakeWorld world;
  auto env = world.environment();
  auto settings = load_s3_settings(env, load_active_profile(env));
  EXPECT_FALSE(settings.endpoint_url.has_value());
  EXPECT_EQ(settings.region, "us-east-1");
  EXPECT_FALSE(settings.region_configured);
  EXPECT_EQ(settings.addressing, S3AddressingStyle::kAuto);
}

TEST(S3Settings, EndpointPrecedence) {
  FakeWorld world;
  world.env["HOME"] = "/h";
  world.files["/h/.aws/config"] = "[default]\nendpoint_url = http://profile:1\n";
  auto settings_now = [&] {
    auto env = world.environment();
    return load_s3_settings(env, load_active_profile(env));
  };
  EXPECT_EQ(settings_now().endpoint_url, "http://profile:1");
  world.env["AWS_ENDPOINT_URL"] = "http://global:2";
  EXPECT_EQ(settings_now().endpoint_url, "http://global:2");
  world.env["AWS_ENDPOINT_URL_S3"] = "http://s3:3";
  EXPECT_EQ(settings_now().endpoint_url, "http://s3:3");
  EXPECT_EQ(settings_now().endpoint_source, "AWS_ENDPOINT_URL_S3");
  world.env["AWS_ENDPOINT_URL_S3"] = "";  // empty counts as unset
  EXPECT_EQ(settings_now().endpoint_url, "http://global:2");
  world.env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  EXPECT_FALSE(settings_now().endpoint_url.has_value());
}

TEST(S3Settings, RegionPrecedence) {
  FakeWorld world;
  world.env["HOME"] = "/h";
  world.files["/h/.aws/config"] = "[default]\nregion = eu-north-1\n";
  auto settings_now = [&] {
    auto env = world.environment();
    return load_s3_settings(env, load_active_profile(env));
  };
  EXPECT_EQ(settings_now().region, "eu-north-1");
  EXPECT_TRUE(settings_now().region_configured);
  world.env["AWS_DEFAULT_REGION"] = "ap-east-1";
  EXPECT_EQ(settings_now().region, "ap-east-1");
  world.env["AWS_REGION"] = "me-south-1";
  EXPECT_EQ(settings_now().region, "me-south-1");
}

TEST(S3Settings, AddressingStyle) {
  FakeWorld world;
  world.env["HOME"] = "/h";
  world.files["/h/.aws/config"] = "[default]\ns3 =\n  addressing_style = virtual\n";
  auto settings_now = [&] {
    auto env = world.environment();
    return load_s3_settings(env, load_active_profile(env));
  };
  EXPECT_EQ(settings_now().addressing, S3AddressingStyle::kVirtual);
  world.env["MMAPURL_S3_ADDRESSING"] = "PATH";
  EXPECT_EQ(settings_now().addressing, S3AddressingStyle::kPath);
  world.env["MMAPURL_S3_ADDRESSING"] = "bogus";  // ignored, the profile's setting stands
  EXPECT_EQ(settings_now().addressing, S3AddressingStyle::kVirtual);
}

}  // namespace
}  // namespace mmapurl::s3
