// End-to-end mapping of s3:// URLs against s3rver behind the SigV4-verifying proxy: awkward
// keys, large and empty objects, credentials from the environment, a profile, a session token,
// anonymous access, and the failures (wrong secret, missing key or bucket, no credentials).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fixtures/plain_http_client.hpp"
#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "integration/mapping_test_support.hpp"
#include "integration/s3_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"
#include "source/s3/s3_object_source.hpp"

namespace {

using mmapurl::itest::describe_failure;
using mmapurl::itest::random_bytes;
using mmapurl::itest::S3TestEnvironment;
using mmapurl::itest::set_env;
using mmapurl::itest::unset_env;
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;
constexpr size_t kPage = 4096;
constexpr size_t kMiB = 1 << 20;
const char* const kBucket = "mmapurl-s3-test";

// One S3 server (and bucket) per test process; every test sets the whole AWS environment.
class S3Mapping : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    s3_ = S3TestEnvironment::start("mmapurl-s3-mapping", {kBucket}, &error).release();
    ASSERT_NE(s3_, nullptr) << error;
    server_ = &s3_->server();
    dir_ = &s3_->dir();
  }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
    server_ = nullptr;
    dir_ = nullptr;
  }

  // The server's keys and region, empty AWS files.
  void SetUp() override {
    ASSERT_NE(s3_, nullptr);
    ASSERT_TRUE(s3_->prepare());
  }

  // The shared config and credentials files (both set, so ~/.aws never matters).
  void write_aws_files(const std::string& config, const std::string& credentials) {
    ASSERT_TRUE(s3_->write_aws_files(config, credentials));
  }

  std::string put(const std::string& key, size_t size, uint64_t seed) {
    std::string content = random_bytes(size, seed);
    std::string error;
    EXPECT_TRUE(server_->put_object_content(kBucket, key, content, &error)) << key << ": " << error;
    return content;
  }

  static std::string url(const std::string& key) {
    return std::string("s3://") + kBucket + "/" + key;
  }

  // Maps, compares every byte, unmaps.
  void expect_same_bytes(const std::string& key, const std::string& content) {
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3(url(key).c_str(), &size, &err);
    ASSERT_NE(p, MAP_FAILED) << key << ": " << describe_failure(err);
    EXPECT_EQ(err, MMAP_S3_OK);
    ASSERT_EQ(size, content.size()) << key;
    EXPECT_EQ(std::memcmp(p, content.data(), size), 0) << key;
    EXPECT_EQ(munmap_s3(p), 0);
  }

  int map_error(const std::string& full_url) {
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3(full_url.c_str(), &size, &err);
    if (p != MAP_FAILED) {
      munmap_s3(p);
      return MMAP_S3_OK;
    }
    return err;
  }

  static uint64_t rejected() {
    return server_->stats().value_or(mmapurl::testing::S3ProxyStats{}).rejected;
  }

  // The proxy's requests for one key, in arrival order.
  static std::vector<mmapurl::testing::S3ProxyRequest> requests_for(const std::string& key) {
    std::vector<mmapurl::testing::S3ProxyRequest> out;
    const std::string path = std::string("/") + kBucket + "/" + key;
    for (auto& request : server_->request_log()) {
      if (request.target == path) out.push_back(std::move(request));
    }
    return out;
  }

  // Maps a 0-byte object and checks the answer: size 0, a valid pointer munmap_s3 accepts.
  void expect_empty_mapping(const std::string& key) {
    size_t size = 99;
    int err = -1;
    const void* p = mmap_s3(url(key).c_str(), &size, &err);
    ASSERT_NE(p, MAP_FAILED) << key << ": " << describe_failure(err);
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(size, 0u);
    EXPECT_EQ(err, MMAP_S3_OK);
    EXPECT_EQ(munmap_s3(p), 0);
  }

  static S3TestEnvironment* s3_;
  static S3Server* server_;
  static TempDir* dir_;
};

S3TestEnvironment* S3Mapping::s3_ = nullptr;
S3Server* S3Mapping::server_ = nullptr;
TempDir* S3Mapping::dir_ = nullptr;

TEST_F(S3Mapping, KeysWithSpecialCharactersReadByteForByte) {
  const std::vector<std::string> keys = {
      "plain.bin",
      "with space/file name.bin",
      "plus+sign=equals&amp~tilde;semi,comma.bin",
      "paren(s) [and] brackets.bin",
      "percent%20literal%2Fnot-decoded.bin",
      "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xf0\x9f\x98\x80.bin",
      "repeated//slashes///inside.bin",
      "trailing/slash/",
      "quote'and\"double.bin",
      "star*colon:at@dollar$.bin",
  };
  uint64_t rejected_before = rejected();
  uint64_t seed = 1;
  for (const std::string& key : keys) {
    std::string content = put(key, 3 * kPage + 17 * seed, seed);
    expect_same_bytes(key, content);
    ++seed;
  }
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;
}

TEST_F(S3Mapping, MultiMebibyteObjectSequentialAndRandom) {
  const std::string key = "large/object.bin";
  std::string content = put(key, 6 * kMiB + 123, 42);
  uint64_t verified_before = server_->requests_verified();
  uint64_t rejected_before = rejected();
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3(url(key).c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(size, content.size());
  const auto* bytes = static_cast<const uint8_t*>(p);
  // Random pages first (before readahead has fetched everything), then the whole object.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    size_t offset = rng() % size;
    ASSERT_EQ(bytes[offset], static_cast<uint8_t>(content[offset])) << "offset " << offset;
  }
  for (size_t off = 0; off < size; off += kMiB) {
    size_t n = std::min(kMiB, size - off);
    ASSERT_EQ(std::memcmp(bytes + off, content.data() + off, n), 0) << "MiB at " << off;
  }
  EXPECT_EQ(munmap_s3(p), 0);
  EXPECT_GT(server_->requests_verified(), verified_before);
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;
}

// AWS S3 answers the probe's range on a 0-byte object "416 InvalidRange" with an XML body and
// no Content-Range (the proxy's default, see --empty-range-answer): no size, so the engine asks
// with the source's size request, a signed HEAD, which the proxy verifies and forwards.
TEST_F(S3Mapping, EmptyObjectMapsWithSizeZero) {
  put("empty/zero-bytes", 0, 3);
  uint64_t rejected_before = rejected();
  uint64_t anonymous_before = server_->stats()->anonymous;
  expect_empty_mapping("empty/zero-bytes");
  auto requests = requests_for("empty/zero-bytes");
  ASSERT_EQ(requests.size(), 3u);  // the awscli PUT, the probe, the HEAD
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].outcome, "local-416");
  EXPECT_EQ(requests[2].method, "HEAD");
  EXPECT_EQ(requests[2].region, "us-east-1");  // signed ("-" when anonymous or rejected)
  EXPECT_EQ(requests[2].outcome, "forwarded");
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;
  EXPECT_EQ(server_->stats()->anonymous, anonymous_before);
}

// A public empty object read anonymously: the size request is as unsigned as the probe.
TEST_F(S3Mapping, AnonymousEmptyObjectMapsWithAnUnsignedHead) {
  put("empty/public", 0, 6);
  set_env("AWS_NO_SIGN_REQUEST", "true");
  unset_env("AWS_ACCESS_KEY_ID");
  unset_env("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(server_->allow_anonymous(true));
  uint64_t anonymous_before = server_->stats()->anonymous;
  expect_empty_mapping("empty/public");
  EXPECT_EQ(server_->stats()->anonymous, anonymous_before + 2);  // the probe and the HEAD
  auto requests = requests_for("empty/public");
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].outcome, "local-416");
  EXPECT_EQ(requests[2].method, "HEAD");
  EXPECT_EQ(requests[2].region, "-");
  EXPECT_EQ(requests[2].outcome, "forwarded");
}

// AWS also answers the 416 with "Content-Range: bytes */0": the probe alone says "empty".
TEST_F(S3Mapping, EmptyObjectMapsWhen416NamesTheSize) {
  ASSERT_TRUE(server_->set_empty_range_answer("invalid-range-with-content-range"));
  put("empty/with-content-range", 0, 4);
  uint64_t rejected_before = rejected();
  expect_empty_mapping("empty/with-content-range");
  auto requests = requests_for("empty/with-content-range");
  ASSERT_EQ(requests.size(), 2u);  // the awscli PUT, the probe
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].outcome, "local-416");
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;
}

// s3rver's own answer, "206 Content-Range: bytes 0-0/0", is accepted as empty too.
TEST_F(S3Mapping, EmptyObjectMapsWhenTheServerAnswers206OfNothing) {
  ASSERT_TRUE(server_->set_empty_range_answer("s3rver"));
  put("empty/s3rver-answer", 0, 5);
  expect_empty_mapping("empty/s3rver-answer");
  auto requests = requests_for("empty/s3rver-answer");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].outcome, "forwarded");
}

// 0-byte objects mapped one after another, between mappings of a non-empty object: the
// connections that carried 416s and HEADs serve the next requests correctly.
TEST_F(S3Mapping, ManyEmptyObjectsMapOneAfterAnother) {
  for (int i = 0; i < 4; ++i) put("empty/many-" + std::to_string(i), 0, 10 + i);
  std::string content = put("empty/not-empty-neighbour", 3 * kPage, 20);
  for (int i = 0; i < 4; ++i) {
    expect_empty_mapping("empty/many-" + std::to_string(i));
    expect_same_bytes("empty/not-empty-neighbour", content);
  }
}

// The size request fails as S3 requests fail: SlowDown is retried (the whole open again),
// AccessDenied and NoSuchKey are final with their codes.
TEST_F(S3Mapping, EmptyObjectSizeRequestFailuresAreClassified) {
  put("empty/head-fails", 0, 7);
  ASSERT_TRUE(server_->inject_errors("HEAD", 503, "SlowDown", 1));
  expect_empty_mapping("empty/head-fails");
  auto requests = requests_for("empty/head-fails");
  ASSERT_EQ(requests.size(), 5u);  // PUT, probe, HEAD (SlowDown), probe, HEAD
  EXPECT_EQ(requests[2].outcome, "injected-SlowDown");
  EXPECT_EQ(requests[3].outcome, "local-416");
  EXPECT_EQ(requests[4].method, "HEAD");
  EXPECT_EQ(requests[4].outcome, "forwarded");

  ASSERT_TRUE(server_->inject_errors("HEAD", 403, "AccessDenied", 1));
  EXPECT_EQ(map_error(url("empty/head-fails")), MMAP_S3_PERMISSION_ERROR);
  ASSERT_TRUE(server_->inject_errors("HEAD", 404, "NoSuchKey", 1));
  EXPECT_EQ(map_error(url("empty/head-fails")), MMAP_S3_NOT_FOUND);
  EXPECT_NE(std::string(mmapurl_last_error_message()).find("HEAD"), std::string::npos)
      << mmapurl_last_error_message();
}

// S3 answers a range on an empty object with 416 and no size; the engine then asks the source
// for its size request: a signed HEAD, which the verifying proxy must accept.
TEST_F(S3Mapping, SizeRequestIsASignedHeadTheProxyAccepts) {
  put("empty/head-me", 0, 9);
  auto made = mmapurl::source::make_s3_object_source(url("empty/head-me"));
  ASSERT_NE(made.source, nullptr) << made.message;
  EXPECT_EQ(made.source->describe(), url("empty/head-me"));
  EXPECT_EQ(made.source->origin().host, "127.0.0.1");
  EXPECT_EQ(made.source->origin().port, server_->port());
  auto head = made.source->size_request();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->method, "HEAD");
  std::vector<std::pair<std::string, std::string>> headers;
  bool signed_request = false;
  for (const auto& h : head->headers) {
    headers.emplace_back(h.name, h.value);
    signed_request |= h.name == "Authorization";
  }
  EXPECT_TRUE(signed_request);
  uint64_t rejected_before = rejected();
  std::string error;
  auto response = mmapurl::testing::plain_http_request(server_->port(), "HEAD", head->target,
                                                       headers, "", &error);
  ASSERT_TRUE(response.has_value()) << error;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("Content-Length").value_or("?"), "0");
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;
}

// Every x-amz-* header the engine sends is in its SignedHeaders (AWS refuses a request carrying
// an unsigned one), and the proxy refuses what AWS refuses even when the signature holds: an
// extra unsigned x-amz-* header, the token sent unsigned, a signed x-amz-content-sha256 missing.
TEST_F(S3Mapping, EngineSignsEveryAmzHeaderAndTheProxyRefusesUnsignedOnes) {
  put("signed/headers.bin", 1000, 11);
  const std::string token = "session-token-signed/+=";
  ASSERT_TRUE(server_->require_session_token(token, std::nullopt));
  set_env("AWS_SESSION_TOKEN", token);
  auto made = mmapurl::source::make_s3_object_source(url("signed/headers.bin"));
  ASSERT_NE(made.source, nullptr) << made.message;
  auto head = made.source->size_request();
  ASSERT_TRUE(head.has_value());
  using Headers = std::vector<std::pair<std::string, std::string>>;
  Headers headers;
  std::string authorization;
  for (const auto& h : head->headers) {
    headers.emplace_back(h.name, h.value);
    if (h.name == "Authorization") authorization = h.value;
  }
  size_t at = authorization.find("SignedHeaders=");
  ASSERT_NE(at, std::string::npos) << authorization;
  const std::string signed_headers =
      ";" + authorization.substr(at + 14, authorization.find(',', at) - at - 14) + ";";
  bool sent_token = false;
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    sent_token |= lower == "x-amz-security-token";
    if (lower.rfind("x-amz-", 0) == 0) {
      EXPECT_NE(signed_headers.find(";" + lower + ";"), std::string::npos)
          << name << " is sent but not signed: " << authorization;
    }
  }
  EXPECT_TRUE(sent_token);
  EXPECT_NE(signed_headers.find(";x-amz-content-sha256;"), std::string::npos) << authorization;
  EXPECT_NE(signed_headers.find(";x-amz-security-token;"), std::string::npos) << authorization;

  auto without = [&](const std::string& name) {
    Headers out;
    for (const auto& h : headers) {
      if (h.first != name) out.push_back(h);
    }
    return out;
  };
  auto head_with = [&](const Headers& h) {
    std::string error;
    auto response =
        mmapurl::testing::plain_http_request(server_->port(), "HEAD", head->target, h, "", &error);
    EXPECT_TRUE(response.has_value()) << error;
    return response.value_or(mmapurl::testing::PlainHttpResponse{});
  };
  uint64_t rejected_before = rejected();
  EXPECT_EQ(head_with(headers).status, 200);
  EXPECT_EQ(rejected(), rejected_before) << server_->stats()->last_rejection;

  Headers extra = headers;
  extra.emplace_back("x-amz-request-payer", "requester");
  EXPECT_EQ(head_with(extra).status, 403);
  EXPECT_NE(server_->stats()->last_rejection.find("not signed"), std::string::npos)
      << server_->stats()->last_rejection;
  EXPECT_EQ(head_with(without("x-amz-content-sha256")).status, 400);
  EXPECT_NE(server_->stats()->last_rejection.find("InvalidRequest"), std::string::npos)
      << server_->stats()->last_rejection;

  // The token moved out of the signature: the same request signed without a token, the token
  // added afterwards. AWS refuses it (unsigned x-amz-security-token) though the token is right.
  unset_env("AWS_SESSION_TOKEN");
  auto tokenless = mmapurl::source::make_s3_object_source(url("signed/headers.bin"));
  ASSERT_NE(tokenless.source, nullptr) << tokenless.message;
  auto unsigned_head = tokenless.source->size_request();
  ASSERT_TRUE(unsigned_head.has_value());
  Headers smuggled;
  for (const auto& h : unsigned_head->headers) smuggled.emplace_back(h.name, h.value);
  smuggled.emplace_back("x-amz-security-token", token);
  EXPECT_EQ(head_with(smuggled).status, 403);
  EXPECT_NE(server_->stats()->last_rejection.find("AccessDenied"), std::string::npos)
      << server_->stats()->last_rejection;
}

// Long-term keys take no session token: S3 answers InvalidToken to one that carries any.
TEST_F(S3Mapping, SessionTokenWithLongTermKeysIsRefused) {
  put("token/long-term.bin", 2000, 12);
  set_env("AWS_SESSION_TOKEN", "a-token-nobody-issued");
  uint64_t rejected_before = rejected();
  EXPECT_EQ(map_error(url("token/long-term.bin")), MMAP_S3_PERMISSION_ERROR);
  EXPECT_GT(rejected(), rejected_before);
  EXPECT_NE(server_->stats()->last_rejection.find("InvalidToken"), std::string::npos)
      << server_->stats()->last_rejection;
}

// A bucket named by no set_bucket_regions lives in the proxy's region, us-east-1: a mapping
// signed for another region gets S3's 301 and follows it, as for a bucket in another region.
TEST_F(S3Mapping, WrongRegionForAnUnconfiguredBucketIsRedirected) {
  const std::string bucket = "mmapurl-s3-default-region";
  std::string error;
  ASSERT_TRUE(server_->create_bucket(bucket, &error)) << error;
  std::string content = random_bytes(5000, 13);
  ASSERT_TRUE(server_->put_object_content(bucket, "object.bin", content, &error)) << error;
  set_env("AWS_REGION", "eu-west-1");
  size_t log_start = server_->request_log().size();
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3(("s3://" + bucket + "/object.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(size, content.size());
  EXPECT_EQ(std::memcmp(p, content.data(), size), 0);
  EXPECT_EQ(munmap_s3(p), 0);
  auto log = server_->request_log();
  std::vector<mmapurl::testing::S3ProxyRequest> seen(log.begin() + log_start, log.end());
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen[0].region, "eu-west-1");
  EXPECT_EQ(seen[0].outcome, "redirect-301");
  EXPECT_EQ(seen.back().region, "us-east-1");
  EXPECT_EQ(seen.back().outcome, "forwarded");
}

TEST_F(S3Mapping, CredentialsFromAProfileInTheCredentialsFile) {
  std::string content = put("profile/object.bin", 5000, 4);
  unset_env("AWS_ACCESS_KEY_ID");
  unset_env("AWS_SECRET_ACCESS_KEY");
  write_aws_files("[profile other]\nregion = us-east-1\n",
                  "[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n\n"
                  "[ci]\naws_access_key_id = " +
                      server_->access_key_id() +
                      "\naws_secret_access_key = " + server_->secret_access_key() + "\n");
  set_env("AWS_PROFILE", "ci");
  uint64_t rejected_before = rejected();
  expect_same_bytes("profile/object.bin", content);
  EXPECT_EQ(rejected(), rejected_before);
  // The default profile's wrong keys are refused by the proxy.
  unset_env("AWS_PROFILE");
  EXPECT_EQ(map_error(url("profile/object.bin")), MMAP_S3_PERMISSION_ERROR);
}

TEST_F(S3Mapping, WrongSecretIsAPermissionError) {
  put("secret/object.bin", 100, 5);
  set_env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
  uint64_t rejected_before = rejected();
  EXPECT_EQ(map_error(url("secret/object.bin")), MMAP_S3_PERMISSION_ERROR);
  EXPECT_GT(rejected(), rejected_before);
  EXPECT_NE(server_->stats()->last_rejection.find("SignatureDoesNotMatch"), std::string::npos);
  // No secret in the message.
  EXPECT_EQ(std::string(mmapurl_last_error_message()).find("not-the-secret"), std::string::npos);
}

TEST_F(S3Mapping, MissingKeyAndMissingBucketAreNotFound) {
  EXPECT_EQ(map_error(url("no/such/key.bin")), MMAP_S3_NOT_FOUND);
  EXPECT_EQ(map_error("s3://no-such-bucket-mmapurl/key.bin"), MMAP_S3_NOT_FOUND);
}

TEST_F(S3Mapping, SessionTokenIsPassedThrough) {
  std::string content = put("token/object.bin", 9000, 6);
  ASSERT_TRUE(server_->require_session_token("session-token-abc/+=", std::nullopt));
  EXPECT_EQ(map_error(url("token/object.bin")), MMAP_S3_PERMISSION_ERROR);
  set_env("AWS_SESSION_TOKEN", "session-token-abc/+=");
  uint64_t rejected_before = rejected();
  expect_same_bytes("token/object.bin", content);
  EXPECT_EQ(rejected(), rejected_before);
}

TEST_F(S3Mapping, AnonymousWhenAllowedAndRefusedOtherwise) {
  std::string content = put("public/object.bin", 7000, 7);
  set_env("AWS_NO_SIGN_REQUEST", "true");
  unset_env("AWS_ACCESS_KEY_ID");
  unset_env("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(map_error(url("public/object.bin")), MMAP_S3_PERMISSION_ERROR);
  ASSERT_TRUE(server_->allow_anonymous(true));
  uint64_t anonymous_before = server_->stats()->anonymous;
  expect_same_bytes("public/object.bin", content);
  EXPECT_GT(server_->stats()->anonymous, anonymous_before);
}

TEST_F(S3Mapping, NoCredentialsAtAllIsAPermissionErrorNamingTheChain) {
  unset_env("AWS_ACCESS_KEY_ID");
  unset_env("AWS_SECRET_ACCESS_KEY");
  uint64_t verified_before = server_->requests_verified();
  EXPECT_EQ(map_error(url("anything.bin")), MMAP_S3_PERMISSION_ERROR);
  std::string message = mmapurl_last_error_message();
  EXPECT_NE(message.find("tried"), std::string::npos) << message;
  EXPECT_NE(message.find("environment"), std::string::npos) << message;
  EXPECT_NE(message.find("instance metadata"), std::string::npos) << message;
  EXPECT_EQ(server_->requests_verified(), verified_before);  // nothing was sent
}

TEST_F(S3Mapping, MalformedUrlsAreInvalid) {
  EXPECT_EQ(map_error("s3://"), MMAP_S3_INVALID_S3URL);
  EXPECT_EQ(map_error("s3://bucket-only"), MMAP_S3_INVALID_S3URL);
  EXPECT_EQ(map_error("s3://bucket-only/"), MMAP_S3_INVALID_S3URL);
  EXPECT_EQ(map_error("s3://Bad_Bucket!/key"), MMAP_S3_INVALID_S3URL);
}

TEST_F(S3Mapping, MmapurlCatWritesTheObject) {
  std::string content = put("cat/object with space.bin", 2 * kMiB + 5, 8);
  mmapurl::testing::SpawnOptions options;
  options.argv = {MMAPURL_BINARY_DIR "/tools/mmapurl-cat", url("cat/object with space.bin")};
  auto result = mmapurl::testing::run_program(options, dir_->path(), std::chrono::seconds(60));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out == content) << "got " << result.out.size() << " bytes";
}

}  // namespace
