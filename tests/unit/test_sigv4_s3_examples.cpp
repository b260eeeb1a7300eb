// The worked examples of the S3 API reference ("Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk"), signed with S3's default options.
#include <gtest/gtest.h>

#include "base/sha256_hmac.hpp"
#include "source/s3/credentials/iso8601_time.hpp"
#include "source/s3/signing/sigv4_signer.hpp"
#include "source/s3/signing/uri_encoding.hpp"

namespace mmapurl::s3 {

using base::kEmptyPayloadSha256;
using base::sha256_hex;

namespace {

Credentials example_credentials() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", std::nullopt};
}

SigningScope example_scope() { return {"us-east-1", "s3", *parse_iso8601("2013-05-24T00:00:00Z")}; }

std::string header_value(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

TEST(SigV4S3Examples, GetObjectWithRange) {
  SigningRequest request{"GET",
                         "/test.txt",
                         "",
                         {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}},
                         ""};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(
      result->canonical_request,
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(result->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(result->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(result->authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // The headers the caller must add, in order; no session token for long-term keys.
  ASSERT_EQ(result->headers_to_add.size(), 3u);
  EXPECT_EQ(result->headers_to_add[0],
            (std::pair<std::string, std::string>{"x-amz-date", "20130524T000000Z"}));
  EXPECT_EQ(result->headers_to_add[1].first, "x-amz-content-sha256");
  EXPECT_EQ(result->headers_to_add[1].second, kEmptyPayloadSha256);
  EXPECT_EQ(result->headers_to_add[2].first, "Authorization");
}

TEST(SigV4S3Examples, PutObjectKeyIsEncodedOnce) {
  // Key "test$file.text": the request target is built by encoding the key once.
  std::string target = "/" + uri_encode("test$file.text", /*keep_slash=*/true);
  ASSERT_EQ(target, "/test%24file.text");
  std::string payload_hash = sha256_hex("Welcome to Amazon S3.");
  ASSERT_EQ(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigningRequest request{"PUT",
                         target,
                         "",
                         {{"Host", "examplebucket.s3.amazonaws.com"},
                          {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                          {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                         payload_hash};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(result->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_EQ(header_value(result->headers_to_add, "x-amz-content-sha256"), payload_hash);
}

TEST(SigV4S3Examples, GetBucketLifecycle) {
  SigningRequest request{"GET", "/", "lifecycle", {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_NE(result->canonical_request.find("\n/\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(result->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  EXPECT_EQ(result->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4S3Examples, ListObjects) {
  SigningRequest request{
      "GET", "/", "max-keys=2&prefix=J", {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  EXPECT_EQ(result->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4S3, SessionTokenIsSentAndSigned) {
  Credentials creds = example_credentials();
  creds.session_token = "FQoGZXIvYXdzEXAMPLETOKEN+/=";
  SigningRequest request{"HEAD", "/test.txt", "", {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  auto with_token = sign_request(request, creds, example_scope());
  auto without_token = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(with_token && without_token);
  EXPECT_EQ(header_value(with_token->headers_to_add, "x-amz-security-token"), creds.session_token);
  EXPECT_NE(
      with_token->canonical_request.find("\nx-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN+/=\n"),
      std::string::npos);
  EXPECT_NE(with_token->authorization.find(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
  EXPECT_NE(with_token->signature, without_token->signature);
  EXPECT_EQ(header_value(without_token->headers_to_add, "x-amz-security-token"), "<absent>");
}

TEST(SigV4S3, PathIsNeverNormalisedNorReencoded) {
  // A key like "a//b/./c%20d" reaches S3 as "/a//b/./c%2520d"; S3 signs that path verbatim.
  std::string target = "/" + uri_encode("a//b/./c%20d", true);
  EXPECT_EQ(target, "/a//b/./c%2520d");
  SigningRequest request{"GET", target, "", {{"Host", "b.s3.amazonaws.com"}}, ""};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->canonical_request.substr(0, result->canonical_request.find('\n', 4)),
            "GET\n/a//b/./c%2520d");
}

TEST(SigV4S3, UnsignedPayloadIsSignedLiterally) {
  SigningRequest request{"GET", "/k", "", {{"Host", "b.s3.amazonaws.com"}}, "UNSIGNED-PAYLOAD"};
  auto result = sign_request(request, example_credentials(), example_scope());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(header_value(result->headers_to_add, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_TRUE(result->canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
}

TEST(SigV4Pieces, CanonicalQueryString) {
  EXPECT_EQ(canonical_query_string(""), "");
  EXPECT_EQ(canonical_query_string("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(canonical_query_string("versionId=abc%2Bdef"), "versionId=abc%2Bdef");
  EXPECT_EQ(canonical_query_string("prefix=a b+c/d"), "prefix=a%20b%2Bc%2Fd");
  EXPECT_EQ(canonical_query_string("uploads"), "uploads=");
}

TEST(SigV4Pieces, NormalizePath) {
  EXPECT_EQ(normalize_uri_path("//example//"), "/example/");
  EXPECT_EQ(normalize_uri_path("/example1/example2/../.."), "/");
  EXPECT_EQ(normalize_uri_path("/./example"), "/example");
  EXPECT_EQ(normalize_uri_path("/a/b/."), "/a/b/");
  EXPECT_EQ(normalize_uri_path(""), "/");
}

TEST(SigV4Pieces, AmzDate) {
  EXPECT_EQ(amz_date(*parse_iso8601("2015-08-30T12:36:00Z")), "20150830T123600Z");
}

}  // namespace
}  // namespace mmapurl::s3
