// KeptCacheRecord: a text header that a person can read (`head -3`), then the raw bitmap.
#include "cache/kept_cache_record.hpp"

#include <cstring>

namespace mmapurl::cache {

namespace {
std::string header(const std::string& validator, uint64_t pages) {
  return "mmapurl-cache 1\nvalidator " + validator + "\npages " + std::to_string(pages) + "\n";
}
}  // namespace

std::string encode_kept_cache_record(const std::string& validator,
                                     const control::PageBitmap& held) {
  std::string out = header(validator, held.size());
  const auto& words = held.words();
  const size_t at = out.size();
  out.resize(at + words.size() * sizeof(uint64_t));
  if (!words.empty()) std::memcpy(out.data() + at, words.data(), words.size() * sizeof(uint64_t));
  return out;
}

std::optional<control::PageBitmap> decode_kept_cache_record(const std::string& bytes,
                                                            const std::string& validator,
                                                            uint64_t pages) {
  // A validator with a line break would let one record's header pass for another's.
  if (validator.find('\n') != std::string::npos) return std::nullopt;
  const std::string expected = header(validator, pages);
  const uint64_t words = (pages + 63) / 64;
  if (bytes.size() != expected.size() + words * sizeof(uint64_t)) return std::nullopt;
  if (bytes.compare(0, expected.size(), expected) != 0) return std::nullopt;
  std::vector<uint64_t> bits(words);
  if (words > 0) std::memcpy(bits.data(), bytes.data() + expected.size(), words * sizeof(uint64_t));
  return control::PageBitmap(pages, std::move(bits));
}

}  // namespace mmapurl::cache
