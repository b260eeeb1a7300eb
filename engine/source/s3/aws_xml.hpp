// The XML AWS services answer with, read without an XML library: the first element of a name (its
// content as written, or its text with entities decoded), and the <Error> document S3 and STS
// answer failures with. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::s3 {

// S3 (and STS) error documents: <Error><Code>..</Code><Message>..</Message>...</Error>.
struct AwsErrorDocument {
  std::string code;
  std::string message;
  std::string region;      // <Region>, sent with redirects (PermanentRedirect, 301)
  std::string endpoint;    // <Endpoint>
  std::string request_id;  // <RequestId>
};
std::optional<AwsErrorDocument> parse_aws_error(std::string_view xml);

// The content of the first <name>...</name> element as written (entities and nested elements
// kept); std::nullopt if absent.
std::optional<std::string_view> xml_element_content(std::string_view xml, std::string_view name);

// The text of the first <name>...</name> element (entities decoded); std::nullopt if absent.
std::optional<std::string> xml_element_text(std::string_view xml, std::string_view name);

}  // namespace mmapurl::s3
