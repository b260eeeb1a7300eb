// The XML AWS answers need: an element's content and text, and the <Error> document.
#include "source/s3/aws_xml.hpp"

#include <charconv>
#include <cstdint>

#include "source/s3/signing/uri_encoding.hpp"

namespace mmapurl::s3 {
namespace {

std::string xml_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp")
      out.push_back('&');
    else if (entity == "lt")
      out.push_back('<');
    else if (entity == "gt")
      out.push_back('>');
    else if (entity == "quot")
      out.push_back('"');
    else if (entity == "apos")
      out.push_back('\'');
    else if (entity.size() > 1 && entity[0] == '#') {
      uint32_t cp = 0;
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::string_view digits = entity.substr(hex ? 2 : 1);
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || cp > 0x10FFFF) {
        out.push_back('&');
        continue;
      }
      append_utf8(out, cp);
    } else {
      out.push_back('&');
      continue;
    }
    i = semi;
  }
  return out;
}

// Finds "<name>" or "<name attr...>" as a whole tag name.
size_t find_open_tag(std::string_view xml, std::string_view name, size_t from, size_t& content) {
  while (true) {
    size_t lt = xml.find('<', from);
    if (lt == std::string_view::npos) return std::string_view::npos;
    if (xml.substr(lt + 1, name.size()) == name && lt + 1 + name.size() < xml.size()) {
      char after = xml[lt + 1 + name.size()];
      if (after == '>' || after == ' ' || after == '\t' || after == '\n' || after == '\r') {
        size_t gt = xml.find('>', lt);
        if (gt == std::string_view::npos) return std::string_view::npos;
        content = gt + 1;
        return lt;
      }
    }
    from = lt + 1;
  }
}

}  // namespace

std::optional<std::string_view> xml_element_content(std::string_view xml, std::string_view name) {
  size_t content = 0;
  size_t open = find_open_tag(xml, name, 0, content);
  if (open == std::string_view::npos) return std::nullopt;
  std::string close = "</" + std::string(name) + ">";
  size_t end = xml.find(close, content);
  if (end == std::string_view::npos) return std::nullopt;
  return xml.substr(content, end - content);
}

std::optional<std::string> xml_element_text(std::string_view xml, std::string_view name) {
  std::optional<std::string_view> content = xml_element_content(xml, name);
  if (!content) return std::nullopt;
  return xml_unescape(*content);
}

std::optional<AwsErrorDocument> parse_aws_error(std::string_view xml) {
  std::optional<std::string_view> error = xml_element_content(xml, "Error");
  if (!error) return std::nullopt;
  std::string_view block = *error;
  AwsErrorDocument doc;
  doc.code = xml_element_text(block, "Code").value_or("");
  doc.message = xml_element_text(block, "Message").value_or("");
  doc.region = xml_element_text(block, "Region").value_or("");
  doc.endpoint = xml_element_text(block, "Endpoint").value_or("");
  // S3 puts RequestId inside <Error>; STS puts it beside it, in <ErrorResponse>.
  doc.request_id = xml_element_text(block, "RequestId")
                       .value_or(xml_element_text(xml, "RequestId").value_or(""));
  if (doc.code.empty()) return std::nullopt;
  return doc;
}

}  // namespace mmapurl::s3
