// Removes secrets from text bound for errors and logs: presigned-URL query parameters,
// Authorization header values, security-token headers, and any known secret verbatim.
#pragma once

#include <string>
#include <string_view>

#include "source/s3/credentials/credentials.hpp"

namespace mmapurl::s3 {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Replaces the values of X-Amz-Signature=, X-Amz-Credential=, X-Amz-Security-Token= (query
// strings), Credential= and Signature= (Authorization headers), and the whole value of
// Authorization:, x-amz-security-token: and X-aws-ec2-metadata-token: header lines.
// Names match case-insensitively.
std::string redact(std::string_view text);

// redact(), and also every occurrence of the credentials' secret key and session token.
std::string redact(std::string_view text, const Credentials& credentials);

}  // namespace mmapurl::s3
