// SigV4 header signing following AWS's published algorithm, with S3's deviations selected by
// SigningOptions (no path normalisation, single encoding, x-amz-content-sha256 always present).
#include "source/s3/signing/sigv4_signer.hpp"

#include <time.h>

#include <algorithm>
#include <map>

#include "base/sha256_hmac.hpp"
#include "source/s3/signing/uri_encoding.hpp"

namespace mmapurl::s3 {

using base::hmac_sha256;
using base::kEmptyPayloadSha256;
using base::sha256_hex;
using base::Sha256Digest;
using base::to_hex;

namespace {

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Trims the value and folds every run of spaces/tabs into one space (SigV4 "Trimall").
std::string trim_all(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string canonical_uri(const SigningRequest& request, const SigningOptions& options) {
  std::string path = request.canonical_uri.empty() ? std::string("/") : request.canonical_uri;
  if (options.normalize_path) path = normalize_uri_path(path);
  if (options.double_encode) path = uri_encode(path, /*keep_slash=*/true);
  return path;
}

std::string date_stamp(std::string_view amz_date_text) {
  return std::string(amz_date_text.substr(0, 8));
}

std::string_view digest_view(const Sha256Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// SigV4's key: the secret HMAC'ed with the date, then the region, the service, "aws4_request".
std::optional<Sha256Digest> signing_key(const std::string& secret, const std::string& date,
                                        const SigningScope& scope) {
  auto k_date = hmac_sha256("AWS4" + secret, date);
  if (!k_date) return std::nullopt;
  auto k_region = hmac_sha256(digest_view(*k_date), scope.region);
  if (!k_region) return std::nullopt;
  auto k_service = hmac_sha256(digest_view(*k_region), scope.service);
  if (!k_service) return std::nullopt;
  return hmac_sha256(digest_view(*k_service), "aws4_request");
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point time) {
  time_t seconds = std::chrono::system_clock::to_time_t(time);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  size_t n = strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &utc);
  return std::string(buffer, n);
}

std::string canonical_query_string(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= raw_query.size()) {
    size_t end = raw_query.find('&', start);
    if (end == std::string_view::npos) end = raw_query.size();
    std::string_view piece = raw_query.substr(start, end - start);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      std::string_view key = piece.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      // A malformed escape is signed literally (encoded as given) rather than dropped.
      auto decoded_key = percent_decode(key);
      auto decoded_value = percent_decode(value);
      params.emplace_back(uri_encode(decoded_key ? *decoded_key : std::string(key), false),
                          uri_encode(decoded_value ? *decoded_value : std::string(value), false));
    }
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string normalize_uri_path(std::string_view path) {
  std::vector<std::string_view> segments;
  bool trailing_slash = false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    bool last = end == path.size();
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    if (last) trailing_slash = segment.empty() || segment == "." || segment == "..";
    start = end + 1;
  }
  std::string out;
  for (std::string_view segment : segments) {
    out.push_back('/');
    out += segment;
  }
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

std::optional<SigningResult> sign_request(const SigningRequest& request,
                                          const Credentials& credentials, const SigningScope& scope,
                                          const SigningOptions& options) {
  SigningResult result;
  const std::string date_time = amz_date(scope.time);
  const std::string payload_hash =
      request.payload_hash.empty() ? std::string(kEmptyPayloadSha256) : request.payload_hash;

  // Canonical headers: lower-case names, sorted; values of repeated names joined by ',' in
  // the order given.
  std::map<std::string, std::string> canonical;
  for (const auto& [name, value] : request.headers) {
    std::string key = to_lower(trim_all(name));
    auto [it, inserted] = canonical.try_emplace(key, trim_all(value));
    if (!inserted) it->second += "," + trim_all(value);
  }
  auto add = [&](const char* name, const std::string& value) {
    if (canonical.try_emplace(name, value).second) result.headers_to_add.emplace_back(name, value);
  };
  add("x-amz-date", date_time);
  if (options.add_content_sha256_header) add("x-amz-content-sha256", payload_hash);
  if (!credentials.session_token.empty()) add("x-amz-security-token", credentials.session_token);

  std::string header_block;
  std::string signed_headers;
  for (const auto& [name, value] : canonical) {
    header_block += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }

  result.canonical_request = request.method + "\n" + canonical_uri(request, options) + "\n" +
                             canonical_query_string(request.query) + "\n" + header_block + "\n" +
                             signed_headers + "\n" + payload_hash;

  const std::string scope_text =
      date_stamp(date_time) + "/" + scope.region + "/" + scope.service + "/aws4_request";
  const std::string request_hash = sha256_hex(result.canonical_request);
  if (request_hash.empty()) return std::nullopt;
  result.string_to_sign =
      "AWS4-HMAC-SHA256\n" + date_time + "\n" + scope_text + "\n" + request_hash;

  auto key = signing_key(credentials.secret_access_key, date_stamp(date_time), scope);
  if (!key) return std::nullopt;
  auto signature = hmac_sha256(digest_view(*key), result.string_to_sign);
  if (!signature) return std::nullopt;

  result.signature = to_hex(*signature);
  result.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" +
                         scope_text + ", SignedHeaders=" + signed_headers +
                         ", Signature=" + result.signature;
  result.headers_to_add.emplace_back("Authorization", result.authorization);
  return result;
}

}  // namespace mmapurl::s3
