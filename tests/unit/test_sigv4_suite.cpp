// Data-driven SigV4 test: every case under tests/data/sigv4/ (AWS's Signature Version 4 test
// suite, as published by AWS and as kept in awslabs/aws-c-auth) is parsed, signed and compared.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/sha256_hmac.hpp"
#include "source/s3/credentials/iso8601_time.hpp"
#include "source/s3/credentials/json_reader.hpp"
#include "source/s3/signing/sigv4_signer.hpp"

namespace mmapurl::s3 {

using base::sha256_hex;

namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct SuiteRequest {
  std::string method;
  std::string path;
  std::string query;
  HeaderList headers;
  std::string body;
};

// Parses the suite's request.txt: request line, "Name:value" headers (indented lines continue
// the previous header as further values), blank line, body. The URI may contain spaces.
std::optional<SuiteRequest> parse_request(const std::string& text) {
  SuiteRequest request;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  size_t first_space = line.find(' ');
  size_t last_space = line.rfind(' ');
  if (first_space == std::string::npos || last_space <= first_space) return std::nullopt;
  request.method = line.substr(0, first_space);
  std::string uri = line.substr(first_space + 1, last_space - first_space - 1);
  size_t question = uri.find('?');
  request.path = uri.substr(0, question);
  if (question != std::string::npos) request.query = uri.substr(question + 1);
  while (std::getline(in, line)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      if (request.headers.empty()) return std::nullopt;
      request.headers.emplace_back(request.headers.back().first, line);
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return std::nullopt;
    request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  std::ostringstream body;
  body << in.rdbuf();
  request.body = body.str();
  return request;
}

struct SuiteCase {
  std::string name;
  fs::path dir;
};

std::vector<SuiteCase> all_cases() {
  std::vector<SuiteCase> cases;
  fs::path root = fs::path(MMAPURL_TEST_DATA_DIR) / "sigv4";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory()) cases.push_back({entry.path().filename().string(), entry.path()});
  }
  std::sort(cases.begin(), cases.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return cases;
}

class SigV4SuiteTest : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(SigV4SuiteTest, MatchesPublishedVector) {
  const SuiteCase& c = GetParam();
  auto context_text = read_text(c.dir / "context.json");
  auto request_text = read_text(c.dir / "request.txt");
  auto expected_authorization = read_text(c.dir / "authorization.txt");
  ASSERT_TRUE(context_text && request_text && expected_authorization) << c.name;

  auto context = parse_json(*context_text);
  ASSERT_TRUE(context.has_value()) << c.name;
  const JsonValue* creds_json = context->find("credentials");
  ASSERT_NE(creds_json, nullptr);
  Credentials creds;
  creds.access_key_id = creds_json->string_member("access_key_id").value_or("");
  creds.secret_access_key = creds_json->string_member("secret_access_key").value_or("");
  creds.session_token = creds_json->string_member("token").value_or("");
  auto time = parse_iso8601(context->string_member("timestamp").value_or(""));
  ASSERT_TRUE(time.has_value());
  SigningScope scope{context->string_member("region").value_or(""),
                     context->string_member("service").value_or(""), *time};
  SigningOptions options;
  options.add_content_sha256_header = false;  // the generic suite does not send it
  const JsonValue* normalize = context->find("normalize");
  const JsonValue* double_encode = context->find("double_encode");
  options.normalize_path = normalize != nullptr && normalize->boolean;
  options.double_encode = double_encode != nullptr && double_encode->boolean;

  auto parsed = parse_request(*request_text);
  ASSERT_TRUE(parsed.has_value()) << c.name;
  SigningRequest request;
  request.method = parsed->method;
  request.canonical_uri = parsed->path;
  request.query = parsed->query;
  // The signer adds X-Amz-Date itself from the scope's time; the suite's header must agree.
  for (auto& [name, value] : parsed->headers) {
    if (name == "X-Amz-Date") {
      EXPECT_EQ(value, amz_date(*time)) << c.name;
      continue;
    }
    request.headers.emplace_back(name, value);
  }
  request.payload_hash = sha256_hex(parsed->body);

  auto result = sign_request(request, creds, scope, options);
  ASSERT_TRUE(result.has_value()) << c.name;
  if (auto creq = read_text(c.dir / "canonical-request.txt")) {
    EXPECT_EQ(result->canonical_request, *creq) << c.name;
  }
  if (auto sts = read_text(c.dir / "string-to-sign.txt")) {
    EXPECT_EQ(result->string_to_sign, *sts) << c.name;
  }
  EXPECT_EQ(result->authorization, *expected_authorization) << c.name;
}

INSTANTIATE_TEST_SUITE_P(AwsSigningTestSuite, SigV4SuiteTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(SigV4Suite, HasTheFetchedCases) {
  // 26 consistent cases of AWS's suite plus 11 header-signed cases from aws-c-auth.
  EXPECT_GE(all_cases().size(), 37u);
}

}  // namespace
}  // namespace mmapurl::s3
