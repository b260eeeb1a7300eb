// s3:// URL parsing and bucket-name validation (S3's naming rules, plus the legacy names that
// us-east-1 once allowed). The key is kept byte-exact: S3 keys may hold any UTF-8.
#include "source/s3/addressing/s3_url.hpp"

#include <cstdint>

namespace mmapurl::s3 {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool looks_like_ipv4(std::string_view name) {
  int dots = 0;
  int digits_in_part = 0;
  for (char c : name) {
    if (c == '.') {
      if (digits_in_part == 0) return false;
      ++dots;
      digits_in_part = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits_in_part > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits_in_part > 0;
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

BucketNameKind classify_bucket_name(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 255) return BucketNameKind::kInvalid;
  bool modern =
      bucket.size() <= 63 && is_lower_alnum(bucket.front()) && is_lower_alnum(bucket.back()) &&
      !looks_like_ipv4(bucket) && bucket.find("..") == std::string_view::npos &&
      bucket.find(".-") == std::string_view::npos && bucket.find("-.") == std::string_view::npos;
  for (char c : bucket) {
    bool lower_ok = is_lower_alnum(c) || c == '.' || c == '-';
    bool legacy_ok = lower_ok || (c >= 'A' && c <= 'Z') || c == '_';
    if (!legacy_ok) return BucketNameKind::kInvalid;
    if (!lower_ok) modern = false;
  }
  if (modern) return BucketNameKind::kDnsCompatible;
  // Legacy names still may not be empty-labelled nonsense such as "..." or start with a dot.
  if (bucket.front() == '.' || bucket.back() == '.') return BucketNameKind::kInvalid;
  return BucketNameKind::kLegacy;
}

S3UrlParse parse_s3_url(std::string_view url) {
  S3UrlParse result;
  constexpr std::string_view kScheme = "s3://";
  if (url.size() < kScheme.size()) {
    result.error = "not an s3:// URL";
    return result;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = url[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) {
      result.error = "not an s3:// URL";
      return result;
    }
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view bucket = rest.substr(0, slash);
  if (bucket.empty()) {
    result.error = "s3 URL has no bucket";
    return result;
  }
  BucketNameKind kind = classify_bucket_name(bucket);
  if (kind == BucketNameKind::kInvalid) {
    result.error = "invalid S3 bucket name";
    return result;
  }
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    result.error = "s3 URL has no object key";
    return result;
  }
  std::string_view key = rest.substr(slash + 1);
  if (key.size() > 1024) {
    result.error = "S3 object key longer than 1024 bytes";
    return result;
  }
  if (!is_valid_utf8(key)) {
    result.error = "S3 object key is not valid UTF-8";
    return result;
  }
  result.location = S3Location{std::string(bucket), std::string(key), kind};
  return result;
}

}  // namespace mmapurl::s3
