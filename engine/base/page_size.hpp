// The one page size the engine works in: mappings, staging, fills, the disk cache and the page
// table all count in 4 KiB pages (x86-64 and arm64's usual base page; larger base pages are not
// supported).
#pragma once

#include <cstdint>

namespace mmapurl::base {

inline constexpr uint64_t kPageSize = 4096;

}  // namespace mmapurl::base
