// Hooks the tests use to reach failures a healthy machine never shows. Internal: not exported
// from the shared library.
#pragma once

#include <cstdint>

namespace mmapurl::core {

// The next `count` staging buffers are refused, as when mmap fails (0 ends it).
void test_refuse_staging_buffers(uint64_t count);

// The held-back marker pages of the mapping holding `addr`; -1 when there is none (or no engine).
long test_held_marker_pages(const void* addr);

}  // namespace mmapurl::core
