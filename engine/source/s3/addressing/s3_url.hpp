// Parses "s3://bucket/key" into bucket and key. The key is every byte after the first '/'
// after the bucket, taken literally: no percent-decoding, no normalisation of slashes or dots.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::s3 {

enum class BucketNameKind {
  kDnsCompatible,  // today's rules: usable as a virtual-hosted host name label (dots aside)
  kLegacy,         // upper case / underscores / long names that old us-east-1 buckets may have:
                   // reachable only with path-style addressing
  kInvalid,
};

BucketNameKind classify_bucket_name(std::string_view bucket);

struct S3Location {
  std::string bucket;
  std::string key;
  BucketNameKind bucket_kind = BucketNameKind::kDnsCompatible;
};

struct S3UrlParse {
  std::optional<S3Location> location;
  std::string error;  // why the URL is invalid, when location is empty (never holds secrets)
};

// Accepts "s3://" (scheme case-insensitive), a valid bucket, '/', and a non-empty key of at
// most 1024 bytes of valid UTF-8.
S3UrlParse parse_s3_url(std::string_view url);

}  // namespace mmapurl::s3
