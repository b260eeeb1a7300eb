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

#define MMAPURL_METRICS_PROMETHEUS 0  /* Prometheus text format 0.0.4 */
#define MMAPURL_METRICS_OPENMETRICS 1 /* OpenMetrics 1.0.0 text, ending with "# EOF" */

/* The process-wide counters of mmapurl_stats(NULL, ...) as text for a metrics scraper: counters
 * mmapurl_*_total, gauges (resident, in-flight and cached bytes, connections), and the fault
 * latency as a histogram mmapurl_fault_latency_seconds (exact buckets and _count; _sum is
 * estimated from the bucket midpoints, as the engine keeps no exact sum). No labels but the
 * histogram's `le`: no URL, host or credential ever appears. `format` is one of the
 * MMAPURL_METRICS_* values.
 * Like snprintf: when len > 0, writes at most len - 1 bytes of the text and a terminating NUL
 * into buf; when len == 0 writes nothing, and buf may be NULL. Returns the length of the whole
 * text without its NUL: the text was cut if the result is >= len. Each call takes a new
 * snapshot, and the counters may grow between two calls, so ask for the size, then call again
 * with some room to spare (or loop until the result is < len). Returns 0 (and writes "" when
 * len > 0) if `format` is unknown or the engine cannot start; the text is never empty
 * otherwise. Starts the engine if no mapping has. */
size_t mmapurl_metrics_text(char* buf, size_t len, int format);

/* Last error message of this thread's failed mmap_s3, with secrets removed ("" if none). */
const char* mmapurl_last_error_message(void);

#ifdef __cplusplus
}
#endif

#endif /* MMAPURL_EXT_H */
