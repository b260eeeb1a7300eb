// Parsers for STS, container, IMDS and credential_process documents, the request builders
// for those services, S3 error XML, and the JSON reader under them.
#include <gtest/gtest.h>

#include "source/s3/aws_xml.hpp"
#include "source/s3/credentials/iso8601_time.hpp"
#include "source/s3/credentials/json_reader.hpp"
#include "source/s3/credentials/provider_protocol.hpp"

namespace mmapurl::s3 {
namespace {

std::string header(const HttpRequestSpec& spec, std::string_view name) {
  for (const auto& [key, value] : spec.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

TEST(StsWebIdentity, ParsesCredentialsAndExpiration) {
  const char* xml =
      R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY&amp;x</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";
  auto parsed = parse_sts_web_identity_response(xml);
  ASSERT_TRUE(parsed.credentials.has_value()) << parsed.error;
  EXPECT_EQ(parsed.credentials->access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(parsed.credentials->secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY&x");
  EXPECT_EQ(parsed.credentials->session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
  EXPECT_EQ(parsed.credentials->expiration, parse_iso8601("2014-10-24T23:00:23Z"));
}

TEST(StsWebIdentity, ErrorResponseAndMissingFields) {
  auto parsed = parse_sts_web_identity_response(
      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
      "<Message>Token &lt;expired&gt;</Message></Error><RequestId>r1</RequestId></ErrorResponse>");
  EXPECT_FALSE(parsed.credentials.has_value());
  EXPECT_EQ(parsed.error,
            "STS AssumeRoleWithWebIdentity failed: InvalidIdentityToken: Token <expired>");
  EXPECT_FALSE(parse_sts_web_identity_response("<Credentials><AccessKeyId>A</AccessKeyId>"
                                               "</Credentials>")
                   .credentials.has_value());
  EXPECT_FALSE(parse_sts_web_identity_response("not xml").credentials.has_value());
}

TEST(StsWebIdentity, BuildsRegionalFormPost) {
  WebIdentitySettings settings{"arn:aws:iam::123456789012:role/r", "sess 1", "eu-west-1", {}};
  std::string error;
  auto spec = sts_web_identity_request(settings, "tok+en/=", error);
  ASSERT_TRUE(spec.has_value()) << error;
  EXPECT_EQ(spec->method, "POST");
  EXPECT_EQ(spec->url.scheme(), "https");
  EXPECT_EQ(spec->url.host, "sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(spec->url.request_target(), "/");
  EXPECT_EQ(header(*spec, "Host"), "sts.eu-west-1.amazonaws.com");
  EXPECT_EQ(spec->body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
            "123456789012%3Arole%2Fr&RoleSessionName=sess%201&WebIdentityToken=tok%2Ben%2F%3D");
  EXPECT_EQ(header(*spec, "Content-Length"), std::to_string(spec->body.size()));
  settings.region.clear();
  EXPECT_EQ(sts_web_identity_request(settings, "t", error)->url.host, "sts.amazonaws.com");
  settings.sts_endpoint_url = "http://127.0.0.1:4566";
  auto local = sts_web_identity_request(settings, "t", error);
  EXPECT_EQ(local->url.port, 4566);
  EXPECT_EQ(header(*local, "Host"), "127.0.0.1:4566");
  EXPECT_FALSE(sts_web_identity_request(settings, "", error).has_value());
}

TEST(ContainerCredentials, ParsesJson) {
  auto parsed = parse_container_credentials(R"({
    "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s\/ecret\u0041",
    "Token": "tok", "Expiration": "2026-11-23T12:00:00Z", "RoleArn": "arn:x"})");
  ASSERT_TRUE(parsed.credentials.has_value()) << parsed.error;
  EXPECT_EQ(parsed.credentials->secret_access_key, "s/ecretA");
  EXPECT_EQ(parsed.credentials->session_token, "tok");
  EXPECT_EQ(parsed.credentials->expiration, parse_iso8601("2026-11-23T12:00:00Z"));
  EXPECT_FALSE(parse_container_credentials(R"({"AccessKeyId":"A"})").credentials.has_value());
  EXPECT_FALSE(parse_container_credentials("[1,2]").credentials.has_value());
  EXPECT_FALSE(parse_container_credentials(
                   R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"})")
                   .credentials.has_value());
}

TEST(CredentialProcessOutput, Version1Only) {
  auto parsed = parse_credential_process_output(
      R"({"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK", "SessionToken": "ST",
          "Expiration": "2030-01-02T03:04:05.123+01:00"})");
  ASSERT_TRUE(parsed.credentials.has_value()) << parsed.error;
  EXPECT_EQ(parsed.credentials->session_token, "ST");
  EXPECT_EQ(parsed.credentials->expiration, parse_iso8601("2030-01-02T02:04:05Z"));
  auto no_expiry =
      parse_credential_process_output(R"({"Version":1,"AccessKeyId":"AK","SecretAccessKey":"SK"})");
  ASSERT_TRUE(no_expiry.credentials.has_value());
  EXPECT_FALSE(no_expiry.credentials->expiration.has_value());
  EXPECT_FALSE(
      parse_credential_process_output(R"({"Version":2,"AccessKeyId":"AK","SecretAccessKey":"SK"})")
          .credentials.has_value());
  EXPECT_FALSE(parse_credential_process_output("garbage").credentials.has_value());
}

TEST(Imds, RequestsAndParsers) {
  std::string error;
  auto token = imds_token_request(kImdsDefaultEndpoint, error);
  ASSERT_TRUE(token.has_value()) << error;
  EXPECT_EQ(token->method, "PUT");
  EXPECT_EQ(token->url.host, "169.254.169.254");
  EXPECT_EQ(token->url.port, 80);
  EXPECT_EQ(token->url.request_target(), "/latest/api/token");
  EXPECT_EQ(header(*token, "X-aws-ec2-metadata-token-ttl-seconds"), "21600");

  auto role = imds_role_name_request("http://[fd00:ec2::254]/", "TOKEN", error);
  ASSERT_TRUE(role.has_value()) << error;
  EXPECT_EQ(role->url.request_target(), "/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(header(*role, "Host"), "[fd00:ec2::254]");
  EXPECT_EQ(header(*role, "X-aws-ec2-metadata-token"), "TOKEN");

  EXPECT_EQ(parse_imds_role_name("\r\nmy-role\r\nother\n"), "my-role");
  EXPECT_EQ(parse_imds_role_name("  \n"), std::nullopt);

  auto creds = imds_credentials_request("http://127.0.0.1:1338", "TOKEN", "my-role", error);
  ASSERT_TRUE(creds.has_value()) << error;
  EXPECT_EQ(creds->url.request_target(), "/latest/meta-data/iam/security-credentials/my-role");
  EXPECT_EQ(header(*creds, "Host"), "127.0.0.1:1338");
  EXPECT_FALSE(imds_credentials_request(kImdsDefaultEndpoint, "T", "", error).has_value());
  EXPECT_FALSE(imds_token_request("169.254.169.254", error).has_value());

  auto parsed = parse_imds_credentials(R"({"Code":"Success","LastUpdated":"2026-11-23T10:00:00Z",
    "Type":"AWS-HMAC","AccessKeyId":"ASIA","SecretAccessKey":"S","Token":"T",
    "Expiration":"2026-11-23T16:00:00Z"})");
  ASSERT_TRUE(parsed.credentials.has_value()) << parsed.error;
  EXPECT_EQ(parsed.credentials->session_token, "T");
  auto failed = parse_imds_credentials(R"({"Code":"AssumeRoleUnauthorizedAccess"})");
  EXPECT_FALSE(failed.credentials.has_value());
  EXPECT_NE(failed.error.find("AssumeRoleUnauthorizedAccess"), std::string::npos);
}

TEST(S3Errors, ParsesErrorDocument) {
  auto doc = parse_aws_error(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Endpoint>b.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>b</Bucket><Region>eu-west-1</Region><RequestId>R1</RequestId><HostId>H</HostId></Error>)");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->code, "PermanentRedirect");
  EXPECT_EQ(doc->region, "eu-west-1");
  EXPECT_EQ(doc->endpoint, "b.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(doc->request_id, "R1");
  EXPECT_TRUE(doc->message.starts_with("The bucket"));
  auto no_key = parse_aws_error(
      "<Error><Code>NoSuchKey</Code><Message>A &amp; B &#65;&#x42;</Message></Error>");
  ASSERT_TRUE(no_key.has_value());
  EXPECT_EQ(no_key->message, "A & B AB");
  EXPECT_FALSE(parse_aws_error("<ListBucketResult></ListBucketResult>").has_value());
  EXPECT_FALSE(parse_aws_error("").has_value());
  EXPECT_EQ(xml_element_text("<ErrorCode>x</ErrorCode><Error>y</Error>", "Error"), "y");
}

TEST(JsonReader, StrictAndNested) {
  auto doc = parse_json(R"( {"a": [1, -2.5e3, true, null], "b": {"c": "\ud83d\ude00"}} )");
  ASSERT_TRUE(doc.has_value());
  ASSERT_NE(doc->find("a"), nullptr);
  EXPECT_EQ(doc->find("a")->array.size(), 4u);
  EXPECT_EQ(doc->find("a")->array[1].text, "-2.5e3");
  EXPECT_EQ(doc->find("b")->string_member("c"), "\xf0\x9f\x98\x80");
  for (const char* bad : {"", "{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "\"\\x\"", "01x",
                          "{\"a\":\"\\ud800\"}", "{} x"}) {
    EXPECT_FALSE(parse_json(bad).has_value()) << bad;
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(parse_json(deep).has_value());
}

TEST(Iso8601, Forms) {
  auto base = parse_iso8601("2015-08-30T12:36:00Z");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*base), 1440938160);
  EXPECT_EQ(parse_iso8601("2015-08-30T12:36:00.999Z"), base);
  EXPECT_EQ(parse_iso8601("2015-08-30T14:36:00+02:00"), base);
  for (const char* bad : {"", "2015-08-30", "2015-08-30T12:36:00", "2015-13-01T00:00:00Z",
                          "2015-08-30T12:36:00Zjunk", "yesterday"}) {
    EXPECT_FALSE(parse_iso8601(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace mmapurl::s3
