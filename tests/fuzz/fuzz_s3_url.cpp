// Fuzz target: s3:// URL parsing and endpoint resolution. Input: one flags byte, then
// "<s3 url>\n<endpoint url>\n<region>". Checks the key survives encoding: percent-decoding
// the request target after the endpoint's base path gives back "/[bucket/]key" exactly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "source/s3/addressing/s3_endpoint.hpp"
#include "source/s3/addressing/s3_url.hpp"
#include "source/s3/signing/uri_encoding.hpp"
#include "source/url/http_url.hpp"

namespace s3 = mmapurl::s3;
namespace source = mmapurl::source;

namespace {

bool equals_scheme_ci(std::string_view s) {
  if (s.size() != 5) return false;
  std::string lower(s);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == "s3://";
}

void check_endpoint_url(std::string_view url) {
  source::UrlParse parse = source::parse_http_url(url, source::UrlUse::kEndpoint);
  const auto& parsed = parse.url;
  if (!parsed) {
    FUZZ_CHECK(parse.problem != source::UrlProblem::kNone && !parse.error().empty());
    return;
  }
  FUZZ_CHECK(parsed->scheme() == "http" || parsed->scheme() == "https");
  FUZZ_CHECK(!parsed->host.empty() && parsed->port != 0);
  FUZZ_CHECK(!fuzz::has_forbidden_bytes(parsed->host_header()));
  FUZZ_CHECK(parsed->request_target().front() == '/');
  // The path and query go on the request line verbatim, so spaces and control bytes there are
  // refused (README, findings: strict-endpoint-path-crlf); FUZZ_STRICT=1 checks it.
  if (fuzz::strict_mode()) FUZZ_CHECK(!fuzz::has_forbidden_bytes(parsed->request_target()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  auto fields =
      fuzz::split(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), '\n');
  std::string_view url = fields[0];

  s3::S3UrlParse parse = s3::parse_s3_url(url);
  if (fields.size() > 1) check_endpoint_url(fields[1]);
  if (!parse.location) {
    FUZZ_CHECK(!parse.error.empty());
    return 0;
  }
  const s3::S3Location& loc = *parse.location;
  FUZZ_CHECK(loc.bucket_kind != s3::BucketNameKind::kInvalid);
  FUZZ_CHECK(s3::classify_bucket_name(loc.bucket) == loc.bucket_kind);
  FUZZ_CHECK(!loc.key.empty() && loc.key.size() <= 1024);
  // The URL is exactly scheme + bucket + '/' + key: nothing dropped, nothing rewritten.
  FUZZ_CHECK(equals_scheme_ci(url.substr(0, 5)));
  FUZZ_CHECK(url.substr(5) == loc.bucket + "/" + loc.key);

  s3::S3Settings settings;
  switch (flags % 3) {
    case 0:
      settings.addressing = s3::S3AddressingStyle::kAuto;
      break;
    case 1:
      settings.addressing = s3::S3AddressingStyle::kPath;
      break;
    default:
      settings.addressing = s3::S3AddressingStyle::kVirtual;
      break;
  }
  if ((flags & 0x04) && fields.size() > 1) {
    settings.endpoint_url = std::string(fields[1]);
    settings.endpoint_source = "fuzz";
  }
  if ((flags & 0x08) && fields.size() > 2) settings.region = std::string(fields[2]);

  s3::S3EndpointResult result = s3::resolve_endpoint(loc.bucket, loc.key, settings);
  if (!result.endpoint) {
    FUZZ_CHECK(!result.error.empty());
    return 0;
  }
  const s3::S3Endpoint& ep = *result.endpoint;
  FUZZ_CHECK(!ep.host.empty());
  // The base path the endpoint URL contributes (trailing slashes dropped), taken verbatim.
  std::string base_path;
  if (settings.endpoint_url) {
    auto base = source::parse_http_url(*settings.endpoint_url, source::UrlUse::kEndpoint).url;
    FUZZ_CHECK(base.has_value());
    base_path = base->path();
    while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  }
  FUZZ_CHECK(ep.request_target.compare(0, base_path.size(), base_path) == 0);
  std::string_view encoded = std::string_view(ep.request_target).substr(base_path.size());
  // Everything we encoded is sendable byte for byte on a request line.
  FUZZ_CHECK(!fuzz::has_forbidden_bytes(encoded));
  auto decoded = s3::percent_decode(encoded);
  FUZZ_CHECK(decoded.has_value());
  std::string expected = "/" + (ep.path_style ? loc.bucket + "/" : std::string()) + loc.key;
  FUZZ_CHECK(*decoded == expected);
  if (!ep.path_style) FUZZ_CHECK(ep.host.rfind(loc.bucket + ".", 0) == 0);
  return 0;
}
