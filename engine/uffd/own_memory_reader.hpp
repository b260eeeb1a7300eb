// Copies bytes out of this process's own mappings through the kernel (process_vm_readv, else
// pread of /proc/self/mem), so a page that cannot be read is a short count, never a SIGBUS.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace mmapurl::uffd {

// Copies up to `len` bytes from `src` (an address of this process) to `dst`. Returns the bytes
// copied (fewer at the first page that faults: poisoned, or missing under a user-mode-only
// userfaultfd), or -1 with `*err` set when nothing was copied. A missing page of a mapping
// registered with a kernel-mode userfaultfd faults as a touch would: the caller sleeps until the
// engine fills it, so this must never run on the engine thread.
ssize_t read_own_memory(uint64_t src, void* dst, size_t len, int* err);

}  // namespace mmapurl::uffd
