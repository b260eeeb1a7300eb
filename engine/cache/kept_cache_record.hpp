// KeptCacheRecord: the small file that says which pages of a kept cache file (MMAPURL_CACHE_KEEP)
// hold the object's bytes, and which object they are of. Pure: bytes in, bytes out.
//
// Format: "mmapurl-cache 1\n", "validator <v>\n", "pages <n>\n", then the bitmap's words, 8
// bytes each in host order (the record never leaves the machine that wrote it). Anything else,
// a different validator or page count, or a short file, is no record: the cache starts empty.
#pragma once

#include <optional>
#include <string>

#include "control/page_bitmap.hpp"

namespace mmapurl::cache {

std::string encode_kept_cache_record(const std::string& validator, const control::PageBitmap& held);

// The pages held, if `bytes` is a whole record for this validator and page count.
std::optional<control::PageBitmap> decode_kept_cache_record(const std::string& bytes,
                                                            const std::string& validator,
                                                            uint64_t pages);

}  // namespace mmapurl::cache
