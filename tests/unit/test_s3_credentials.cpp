// Credential chain order with a fake environment and files, and credential_process run for
// real against small shell scripts in a temporary directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "source/s3/credentials/credential_chain.hpp"
#include "source/s3/credentials/credential_process.hpp"
#include "source/s3/credentials/iso8601_time.hpp"

namespace mmapurl::s3 {
namespace {

struct FakeWorld {
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;
  std::vector<std::string> commands_run;
  ProcessOutput process_output;

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
  ProcessRunner runner() {
    return [this](const std::string& command) {
      commands_run.push_back(command);
      return process_output;
    };
  }
  CredentialChainResult resolve() {
    return resolve_credentials(environment(), runner(), *parse_iso8601("2026-01-01T00:00:00Z"));
  }
};

FakeWorld world_with_home() {
  FakeWorld world;
  world.env["HOME"] = "/home/u";
  return world;
}

TEST(CredentialChain, EnvironmentComesFirst) {
  FakeWorld world = world_with_home();
  world.env["AWS_ACCESS_KEY_ID"] = "AKENV";
  world.env["AWS_SECRET_ACCESS_KEY"] = "SKENV";
  world.env["AWS_SESSION_TOKEN"] = "STENV";
  world.files["/home/u/.aws/credentials"] =
      "[default]\naws_access_key_id=AKFILE\n"
      "aws_secret_access_key=SKFILE\n";
  auto result = world.resolve();
  ASSERT_TRUE(result.credentials.has_value());
  EXPECT_EQ(result.credentials->access_key_id, "AKENV");
  EXPECT_EQ(result.credentials->session_token, "STENV");
  EXPECT_EQ(result.provider, "environment");
}

TEST(CredentialChain, PartialEnvironmentIsAnError) {
  FakeWorld world = world_with_home();
  world.env["AWS_ACCESS_KEY_ID"] = "AKENV";
  auto result = world.resolve();
  EXPECT_FALSE(result.credentials.has_value());
  EXPECT_NE(result.fatal_error.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_EQ(result.fatal_error.find("AKENV"), std::string::npos);
}

TEST(CredentialChain, CredentialsFileThenConfigFile) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] =
      "[default]\naws_access_key_id=AKCONF\n"
      "aws_secret_access_key=SKCONF\n";
  auto from_config = world.resolve();
  ASSERT_TRUE(from_config.credentials.has_value());
  EXPECT_EQ(from_config.credentials->access_key_id, "AKCONF");
  EXPECT_NE(from_config.provider.find("config file"), std::string::npos);

  world.files["/home/u/.aws/credentials"] =
      "[default]\naws_access_key_id=AKFILE\n"
      "aws_secret_access_key=SKFILE\n"
      "aws_session_token=STFILE\n";
  auto from_credentials = world.resolve();
  ASSERT_TRUE(from_credentials.credentials.has_value());
  EXPECT_EQ(from_credentials.credentials->access_key_id, "AKFILE");
  EXPECT_EQ(from_credentials.credentials->session_token, "STFILE");
  EXPECT_NE(from_credentials.provider.find("/home/u/.aws/credentials"), std::string::npos);
}

TEST(CredentialChain, NamedProfileAndFileLocations) {
  FakeWorld world = world_with_home();
  world.env["AWS_PROFILE"] = "work";
  world.env["AWS_SHARED_CREDENTIALS_FILE"] = "/tmp/creds";
  world.files["/tmp/creds"] =
      "[default]\naws_access_key_id=AKDEF\naws_secret_access_key=S\n"
      "[work]\naws_access_key_id=AKWORK\naws_secret_access_key=S\n";
  auto result = world.resolve();
  ASSERT_TRUE(result.credentials.has_value());
  EXPECT_EQ(result.credentials->access_key_id, "AKWORK");

  world.env["AWS_PROFILE"] = "missing";
  auto missing = world.resolve();
  EXPECT_FALSE(missing.credentials.has_value());
  EXPECT_NE(missing.fatal_error.find("\"missing\" not found"), std::string::npos);
}

TEST(CredentialChain, PartialProfileKeysAreAnError) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/credentials"] = "[default]\naws_access_key_id=AKONLY\n";
  auto result = world.resolve();
  EXPECT_FALSE(result.credentials.has_value());
  EXPECT_NE(result.fatal_error.find("only one of"), std::string::npos);
}

TEST(CredentialChain, CredentialProcessAfterStaticKeys) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] = "[profile p]\ncredential_process = /bin/get-creds --x\n";
  world.env["AWS_PROFILE"] = "p";
  world.process_output.started = true;
  world.process_output.exit_status = 0;
  world.process_output.stdout_text =
      R"({"Version":1,"AccessKeyId":"AKPROC","SecretAccessKey":"SKPROC","SessionToken":"T",)"
      R"("Expiration":"2026-01-01T01:00:00Z"})";
  auto result = world.resolve();
  ASSERT_TRUE(result.credentials.has_value()) << result.describe_failure();
  EXPECT_EQ(world.commands_run, std::vector<std::string>{"/bin/get-creds --x"});
  EXPECT_EQ(result.credentials->access_key_id, "AKPROC");
  EXPECT_EQ(result.credentials->expiration, parse_iso8601("2026-01-01T01:00:00Z"));

  // Static keys in the credentials file win; the process is not run.
  world.commands_run.clear();
  world.files["/home/u/.aws/credentials"] = "[p]\naws_access_key_id=AKF\naws_secret_access_key=S\n";
  EXPECT_EQ(world.resolve().credentials->access_key_id, "AKF");
  EXPECT_TRUE(world.commands_run.empty());
}

TEST(CredentialChain, CredentialProcessFailuresStopTheChain) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] = "[default]\ncredential_process = helper\n";
  world.process_output.started = true;
  world.process_output.exit_status = 3;
  world.process_output.stderr_text = "helper: not logged in\nmore\n";
  auto failed = world.resolve();
  EXPECT_FALSE(failed.credentials.has_value());
  EXPECT_EQ(failed.fatal_error,
            "credential_process of profile default exited with status 3: helper: not logged in");
  EXPECT_TRUE(failed.network_providers.empty());

  world.process_output.exit_status = 0;
  world.process_output.stdout_text = "{\"Version\":1}";
  EXPECT_NE(world.resolve().fatal_error.find("lacks AccessKeyId"), std::string::npos);
}

TEST(CredentialChain, NetworkProvidersInOrder) {
  FakeWorld world = world_with_home();
  world.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/token";
  world.env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
  world.env["AWS_REGION"] = "eu-west-2";
  world.files["/var/run/token"] = "eyJhbGciOi.token\n";
  world.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/abc";
  world.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer xyz";
  auto result = world.resolve();
  EXPECT_FALSE(result.credentials.has_value());
  EXPECT_TRUE(result.fatal_error.empty());
  ASSERT_EQ(result.network_providers.size(), 3u);

  const auto& web = result.network_providers[0];
  EXPECT_EQ(web.kind, NetworkProviderKind::kWebIdentity);
  ASSERT_TRUE(web.request.has_value());
  EXPECT_EQ(web.request->url.host, "sts.eu-west-2.amazonaws.com");
  EXPECT_TRUE(web.request->body.ends_with("&WebIdentityToken=eyJhbGciOi.token"));
  EXPECT_NE(web.request->body.find("RoleSessionName=mmapurl-1767225600"), std::string::npos);

  const auto& container = result.network_providers[1];
  EXPECT_EQ(container.kind, NetworkProviderKind::kContainer);
  ASSERT_TRUE(container.request.has_value());
  EXPECT_EQ(container.request->url.host, "169.254.170.2");
  EXPECT_EQ(container.request->url.request_target(), "/v2/credentials/abc");
  bool has_auth = false;
  for (const auto& [name, value] : container.request->headers) {
    if (name == "Authorization") has_auth = value == "Bearer xyz";
  }
  EXPECT_TRUE(has_auth);

  EXPECT_EQ(result.network_providers[2].kind, NetworkProviderKind::kInstanceMetadata);
  EXPECT_EQ(result.network_providers[2].imds_endpoint, "http://169.254.169.254");
}

TEST(CredentialChain, ContainerFullUriRulesAndTokenFile) {
  FakeWorld world = world_with_home();
  world.env["AWS_EC2_METADATA_DISABLED"] = "true";
  world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://169.254.170.23/v1/credentials";
  world.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/token";
  world.files["/token"] = "from-file\n";
  world.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "from-env";
  auto result = world.resolve();
  ASSERT_EQ(result.network_providers.size(), 1u);
  EXPECT_EQ(result.network_providers[0].request->headers.back().second, "from-file");

  world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://10.0.0.7/creds";
  auto refused = world.resolve();
  EXPECT_TRUE(refused.network_providers.empty());
  std::string message = refused.describe_failure();
  EXPECT_NE(message.find("no AWS credentials found; tried: environment"), std::string::npos);
  EXPECT_NE(message.find("container credentials (an http:// full URI"), std::string::npos);
  EXPECT_NE(message.find("instance metadata (AWS_EC2_METADATA_DISABLED=true)"), std::string::npos);
}

// A name is judged on what it resolves to (when the request connects), not on how it is
// spelled: "127.attacker.example" is not loopback. Address literals are judged at once.
TEST(CredentialChain, ContainerFullUriNamesAreLeftToTheResolvedAddressCheck) {
  FakeWorld world = world_with_home();
  world.env["AWS_EC2_METADATA_DISABLED"] = "true";
  for (const char* allowed :
       {"http://127.0.0.1:8080/c", "http://127.1.2.3/c", "http://[::1]/c", "http://169.254.170.2/c",
        "http://[fd00:ec2::23]/c", "https://creds.example/c"}) {
    world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = allowed;
    EXPECT_EQ(world.resolve().network_providers.size(), 1u) << allowed;
  }
  for (const char* refused : {"http://10.0.0.7/c", "http://[fd00:ec2::24]/c",
                              "http://169.254.169.254/c", "http://[::ffff:10.0.0.1]/c"}) {
    world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = refused;
    EXPECT_TRUE(world.resolve().network_providers.empty()) << refused;
  }
}

TEST(CredentialChain, ContainerAuthorizationTokenWithControlCharactersIsAnError) {
  FakeWorld world = world_with_home();
  world.env["AWS_EC2_METADATA_DISABLED"] = "true";
  world.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1/creds";
  world.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "abc\r\nX-Injected: 1";
  auto from_env = world.resolve();
  EXPECT_TRUE(from_env.network_providers.empty());
  EXPECT_NE(from_env.fatal_error.find("control character"), std::string::npos)
      << from_env.fatal_error;
  EXPECT_EQ(from_env.fatal_error.find("X-Injected"), std::string::npos);  // never echoed

  world.env.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  world.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = "/token";
  world.files["/token"] = "abc\nX-Injected: 1\n";  // the trailing newline alone is trimmed
  EXPECT_NE(world.resolve().fatal_error.find("control character"), std::string::npos);
  world.files["/token"] = "abc\n";
  auto fine = world.resolve();
  ASSERT_EQ(fine.network_providers.size(), 1u);
  EXPECT_EQ(fine.network_providers[0].request->headers.back().second, "abc");
}

TEST(CredentialChain, ImdsEndpointSettings) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] = "[default]\nec2_metadata_service_endpoint_mode = IPv6\n";
  EXPECT_EQ(world.resolve().network_providers.back().imds_endpoint, "http://[fd00:ec2::254]");
  world.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:1338";
  EXPECT_EQ(world.resolve().network_providers.back().imds_endpoint, "http://127.0.0.1:1338");
}

TEST(CredentialChain, WebIdentityFromProfileAndUnreadableToken) {
  FakeWorld world = world_with_home();
  world.env["AWS_EC2_METADATA_DISABLED"] = "true";
  world.files["/home/u/.aws/config"] =
      "[default]\nrole_arn = arn:aws:iam::1:role/p\nweb_identity_token_file = ~/tok\n"
      "role_session_name = named\n";
  auto unreadable = world.resolve();
  EXPECT_TRUE(unreadable.network_providers.empty());
  EXPECT_NE(unreadable.describe_failure().find("cannot read token file ~/tok"), std::string::npos);
  world.files["/home/u/tok"] = "T0KEN";
  auto result = world.resolve();
  ASSERT_EQ(result.network_providers.size(), 1u);
  EXPECT_EQ(result.network_providers[0].request->url.host, "sts.amazonaws.com");
  EXPECT_NE(result.network_providers[0].request->body.find("RoleSessionName=named"),
            std::string::npos);
}

TEST(CredentialChain, SourceProfileRolesAreRefusedClearly) {
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] =
      "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n";
  auto result = world.resolve();
  EXPECT_NE(result.fatal_error.find("source_profile"), std::string::npos);
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/mmapurl_s3_test_XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string script(const std::string& name, const std::string& body) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << "#!/bin/sh\n" << body;
    chmod(file.c_str(), 0700);
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CredentialProcess, SplitsLikeAShell) {
  EXPECT_EQ(split_command_line("a  'b c' \"d \\\"e\\\" $f\" g\\ h"),
            (std::vector<std::string>{"a", "b c", "d \"e\" $f", "g h"}));
  EXPECT_EQ(split_command_line("''"), std::vector<std::string>{""});
  EXPECT_FALSE(split_command_line("'open").has_value());
  EXPECT_FALSE(split_command_line("\"open").has_value());
  EXPECT_TRUE(split_command_line("   ")->empty());
}

TEST(CredentialProcess, RunsScriptAndCapturesOutput) {
  TempDir dir;
  std::string script = dir.script(
      "creds.sh",
      "echo \"args:$1|$2\" >&2\n"
      "printf '{\"Version\": 1, \"AccessKeyId\": \"AKSCRIPT\", \"SecretAccessKey\": \"SK\"}'\n");
  ProcessOutput out = run_credential_process(script + " 'one arg' two");
  ASSERT_TRUE(out.started) << out.error;
  EXPECT_EQ(out.exit_status, 0);
  EXPECT_FALSE(out.timed_out);
  EXPECT_EQ(out.stderr_text, "args:one arg|two\n");
  auto parsed = parse_credential_process_output(out.stdout_text);
  ASSERT_TRUE(parsed.credentials.has_value()) << parsed.error;
  EXPECT_EQ(parsed.credentials->access_key_id, "AKSCRIPT");
}

TEST(CredentialProcess, ExitStatusTimeoutAndMissingProgram) {
  TempDir dir;
  ProcessOutput failing = run_credential_process(dir.script("fail.sh", "exit 7\n"));
  ASSERT_TRUE(failing.started);
  EXPECT_EQ(failing.exit_status, 7);

  auto start = std::chrono::steady_clock::now();
  ProcessOutput slow = run_credential_process(dir.script("slow.sh", "exec sleep 30\n"),
                                              std::chrono::milliseconds(300));
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  ProcessOutput missing = run_credential_process(dir.path() + "/does-not-exist");
  EXPECT_FALSE(missing.started);
  EXPECT_FALSE(missing.error.empty());
  EXPECT_FALSE(run_credential_process("").started);
}

TEST(CredentialProcess, ThroughTheChain) {
  TempDir dir;
  std::string script = dir.script(
      "p.sh", "printf '{\"Version\":1,\"AccessKeyId\":\"AKCHAIN\",\"SecretAccessKey\":\"S\"}'\n");
  FakeWorld world = world_with_home();
  world.files["/home/u/.aws/config"] = "[default]\ncredential_process = " + script + "\n";
  auto result = resolve_credentials(
      world.environment(), [](const std::string& c) { return run_credential_process(c); },
      std::chrono::system_clock::now());
  ASSERT_TRUE(result.credentials.has_value()) << result.describe_failure();
  EXPECT_EQ(result.credentials->access_key_id, "AKCHAIN");
}

}  // namespace
}  // namespace mmapurl::s3
