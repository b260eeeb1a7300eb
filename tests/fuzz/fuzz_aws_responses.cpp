// Fuzz target: the parsers of what AWS services and config files send us (S3/STS error XML,
// STS/container/IMDS/credential_process credentials, generic JSON, ~/.aws INI files).
// Input: one selector byte, then the document. Checks: no crash, no hang, sane results.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "source/s3/aws_xml.hpp"
#include "source/s3/config/aws_config_files.hpp"
#include "source/s3/credentials/json_reader.hpp"
#include "source/s3/credentials/provider_protocol.hpp"

namespace s3 = mmapurl::s3;

namespace {

// A parse either yields credentials with both key parts, or an error message.
void check_credentials(const s3::CredentialsParse& parse) {
  if (parse.credentials) {
    FUZZ_CHECK(!parse.credentials->access_key_id.empty());
    FUZZ_CHECK(!parse.credentials->secret_access_key.empty());
  } else {
    FUZZ_CHECK(!parse.error.empty());
  }
}

// JSON nesting is bounded (64 levels): walk the tree and make sure of it.
int json_depth(const s3::JsonValue& v) {
  int deepest = 0;
  for (const auto& e : v.array) deepest = std::max(deepest, json_depth(e));
  for (const auto& e : v.member_values) deepest = std::max(deepest, json_depth(e));
  FUZZ_CHECK(v.member_names.size() == v.member_values.size());
  return deepest + 1;
}

void check_ini(std::string_view text, s3::AwsIniKind kind) {
  s3::AwsProfiles profiles = s3::parse_aws_ini(text, kind);
  for (const auto& [name, profile] : profiles) {
    FUZZ_CHECK(!name.empty());
    for (const auto& [key, value] : profile) {
      FUZZ_CHECK(!key.empty());
      for (char c : key) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));  // names are lower-cased
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view doc(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 10) {
    case 0:
      if (auto err = s3::parse_aws_error(doc)) {
        // Decoded text can only shrink (entities are longer than what they stand for).
        FUZZ_CHECK(err->code.size() <= doc.size() && err->message.size() <= doc.size());
      }
      break;
    case 1:
      check_credentials(s3::parse_sts_web_identity_response(doc));
      break;
    case 2:
      check_credentials(s3::parse_container_credentials(doc));
      break;
    case 3:
      check_credentials(s3::parse_imds_credentials(doc));
      break;
    case 4:
      if (auto v = s3::parse_json(doc)) FUZZ_CHECK(json_depth(*v) <= 66);
      break;
    case 5:
      check_ini(doc, s3::AwsIniKind::kCredentials);
      break;
    case 6:
      check_ini(doc, s3::AwsIniKind::kConfig);
      break;
    case 7:
      if (auto role = s3::parse_imds_role_name(doc)) {
        FUZZ_CHECK(!role->empty() && role->find('\n') == std::string::npos);
        // The role name goes into the next request's path: it must come out encoded.
        std::string error;
        auto spec = s3::imds_credentials_request(s3::kImdsDefaultEndpoint, "token", *role, error);
        FUZZ_CHECK(spec.has_value());
        FUZZ_CHECK(!fuzz::has_forbidden_bytes(spec->url.request_target()));
      }
      break;
    case 8:
      check_credentials(s3::parse_credential_process_output(doc));
      break;
    default: {
      // "<name>\n<xml>": arbitrary element names, including empty and odd ones.
      size_t nl = doc.find('\n');
      std::string_view name = doc.substr(0, nl);
      std::string_view xml = nl == std::string_view::npos ? "" : doc.substr(nl + 1);
      if (auto text = s3::xml_element_text(xml, name)) FUZZ_CHECK(text->size() <= xml.size());
      break;
    }
  }
  return 0;
}
