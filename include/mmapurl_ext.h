/* mmapurl extensions: additive C calls beside the three-call API of mmapurl.h. */
#ifndef MMAPURL_EXT_H
#define MMAPURL_EXT_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MMAPURL_ADVICE_NORMAL 0     /* adaptive readahead (the default) */
#define MMAPURL_ADVICE_SEQUENTIAL 1 /* read ahead aggressively */
#define MMAPURL_ADVICE_RANDOM 2     /* never read ahead: fetch small blocks */
#define MMAPURL_ADVICE_WILLNEED 3   /* fetch this range now, in the background */
#define MMAPURL_ADVICE_DONTNEED 4   /* drop this range's pages; a later touch fetches again */

/* Like madvise(2) for [addr, addr+len) inside a mapping returned by mmap_s3.
 * Returns 0, or -1 if the range is not inside such a mapping or the advice is unknown. */
int mmapurl_advise(const void* addr, size_t len, int advice);

/* Copies counters into `out` (a mmapurl::Stats of `out_size` bytes in C++): the mapping that
 * contains `addr`, or the whole process when `addr` is NULL. Returns 0 or -1. `out_size` is the
 * size of this header's Stats or of an earlier one (without the disk cache counters): an earlier
 * program gets the fields it knows. */
int mmapurl_stats(const void* addr, void* out, size_t out_size);

/* Copies [addr, addr+len) of a mapping returned by mmap_s3 into `buf`, fetching what is missing,
 * like pread(2) on the object: returns the bytes copied (fewer at the object's end, or before a
 * page that failed), 0 at the end, or -1 with errno: EIO when the first page failed for good (a
 * touch of it raises SIGBUS), EINVAL when `addr` is not inside such a mapping, EDEADLK on the
 * engine's own thread. Never raises SIGBUS in the caller, even with a user-mode-only
 * userfaultfd. Thread-safe; it waits for the network like a touch does. */
ssize_t mmapurl_read(const void* addr, void* buf, size_t len);

/* Last error message of this thread's failed mmap_s3, with secrets removed ("" if none). */
const char* mmapurl_last_error_message(void);

#ifdef __cplusplus
}
#endif

#endif /* MMAPURL_EXT_H */
