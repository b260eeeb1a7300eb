// Secrets never survive redact(): presigned query parameters, Authorization values, token
// headers, and (with credentials given) the secret key and token wherever they appear.
#include <gtest/gtest.h>

#include "source/s3/redact.hpp"

namespace mmapurl::s3 {
namespace {

TEST(Redact, PresignedUrlQuery) {
  std::string url =
      "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
      "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
      "&x-amz-security-token=FQoGZXIvYXdzE%2Bsecret"
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
  std::string out = redact(url);
  EXPECT_EQ(out,
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=[REDACTED]&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
            "&X-Amz-SignedHeaders=host&x-amz-security-token=[REDACTED]"
            "&X-Amz-Signature=[REDACTED]");
}

TEST(Redact, AuthorizationValueAndHeaderLines) {
  std::string value =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;range, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd910";
  EXPECT_EQ(redact(value),
            "AWS4-HMAC-SHA256 Credential=[REDACTED], SignedHeaders=host;range, "
            "Signature=[REDACTED]");
  std::string headers =
      "GET /k HTTP/1.1\r\nHost: b\r\nAuthorization: AWS4-HMAC-SHA256 Credential=X, "
      "Signature=Y\r\nx-amz-security-token: TOKEN123\r\nX-aws-ec2-metadata-token: IMDS\r\n"
      "Range: bytes=0-9\r\n";
  EXPECT_EQ(redact(headers),
            "GET /k HTTP/1.1\r\nHost: b\r\nAuthorization: [REDACTED]\r\n"
            "x-amz-security-token: [REDACTED]\r\nX-aws-ec2-metadata-token: [REDACTED]\r\n"
            "Range: bytes=0-9\r\n");
}

TEST(Redact, LeavesOrdinaryTextAlone) {
  std::string text = "HTTP 403 SignatureDoesNotMatch for s3://bucket/MySignature=ok?a=b";
  EXPECT_EQ(redact(text), text);
  EXPECT_EQ(redact(""), "");
}

TEST(Redact, KnownSecretsAnywhere) {
  Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "SESSIONTOKENVALUE", std::nullopt};
  EXPECT_EQ(redact("process said: key wJalrXUtnFEMI/K7MDENG token SESSIONTOKENVALUE!", creds),
            "process said: key [REDACTED] token [REDACTED]!");
  Credentials no_token{"A", "secretsecret", "", std::nullopt};
  EXPECT_EQ(redact("a b c", no_token), "a b c");
}

}  // namespace
}  // namespace mmapurl::s3
