// Regions discovered for buckets (x-amz-bucket-region on a 301/400), remembered for the
// process so that later mappings of the same bucket go to the right region at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace mmapurl::s3 {

// Buckets remembered at most; past it the least recently used is forgotten (its next mapping
// pays one redirect again).
constexpr size_t kMaxRememberedBuckets = 1024;

// The region learnt for `bucket` at `endpoint_key` (the configured endpoint, "" for AWS).
std::optional<std::string> cached_bucket_region(const std::string& endpoint_key,
                                                const std::string& bucket);
void remember_bucket_region(const std::string& endpoint_key, const std::string& bucket,
                            const std::string& region);
size_t remembered_bucket_regions();

}  // namespace mmapurl::s3
