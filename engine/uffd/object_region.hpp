// The address ranges that hold mapped objects, and every kernel call that changes them besides
// the fills: reserving and registering, dropping pages, making pages fail, releasing. The engine
// core calls these; it makes no memory system call of its own.
#pragma once

#include <cstdint>
#include <string>

#include "uffd/userfaultfd.hpp"

namespace mmapurl::uffd {

// Reserves a read-only range for an object of `length` page-rounded bytes (a whole page for an
// empty object), never inherited by a forked child (which must get SIGSEGV, never zeros), and
// registers it for missing faults. 0 and `*base`, or an errno with the failed call in `*what`.
int reserve_object_region(Userfaultfd& uffd, uint64_t length, uint64_t* base, std::string* what);
// Unregisters (waking every thread still asleep on it) and unmaps the range.
void release_object_region(Userfaultfd& uffd, uint64_t base, uint64_t length);
// The pages of [addr, addr + len) become missing again (MADV_DONTNEED): the next touch faults.
void drop_object_pages(uint64_t addr, uint64_t len);
// From now on every touch of [addr, addr + len) raises SIGBUS, and threads asleep on it wake to
// it: UFFDIO_POISON, or where the kernel lacks it (before 6.6) or `use_poison` is false, a shared
// mapping past the end of an empty memfd put over the pages. Returns the poison error it fell
// back from (0: none).
int fail_object_pages(Userfaultfd& uffd, uint64_t addr, uint64_t len, bool use_poison);

// Staging: page-aligned private buffers for bodies on their way into a mapping. Null with `*err`
// when the kernel refuses the range.
uint8_t* map_staging(uint64_t bytes, int* err);
// Charges the buffer's pages now (MADV_POPULATE_WRITE), where a refusal is an ENOMEM the engine
// answers by giving memory back, rather than at the first write into it: in a memory cgroup at
// its limit that write would wait for memory that only the engine thread frees. 0 or ENOMEM;
// kernels before 5.14 lack the advice and charge the pages at the first write (0).
int populate_staging(uint8_t* p, uint64_t bytes);
void unmap_staging(uint8_t* p, uint64_t bytes);

}  // namespace mmapurl::uffd
