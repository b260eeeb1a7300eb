/* mmapurl extensions: additive C calls beside the three-call API of mmapurl.h. Only mmap_s3
 * starts the library's engine thread: before it, these calls find no mapping (-1) and counters
 * of zero, and start no thread. */
#ifndef MMAPURL_EXT_H
#define MMAPURL_EXT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mmapurl.h"

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

#define MMAPURL_STATS_LATENCY_BUCKETS 32

/* Counters of the whole process, or of one mapping. Fields are only ever appended, never moved
 * or removed: `size` says how many bytes of the structure the caller and the library share. */
struct mmapurl_stats {
  size_t size;                     /* set by the caller: sizeof(struct mmapurl_stats) */
  uint64_t faults;                 /* missing-page faults handled */
  uint64_t bytes_fetched;          /* body bytes received */
  uint64_t requests;               /* ranged GETs completed (the mapping-time probe included) */
  uint64_t retries;                /* requests retried after a transient failure */
  uint64_t prefetch_hits;          /* faults on pages already in flight or held as markers */
  uint64_t evictions;              /* pages dropped to stay within the memory limit */
  uint64_t resident_bytes;         /* filled pages still in memory */
  uint64_t in_flight_bytes;        /* staging memory of requests under way */
  uint64_t failed_pages;           /* pages that raise SIGBUS (sticky) */
  uint64_t max_requests_in_flight; /* most requests in flight at once */
  uint64_t connections;            /* connection slots in the keep-alive pools (process only) */
  /* staging buffers mapped afresh rather than taken from the pool (process only): each costs an
   * mmap and a page fault per 4 KiB written into it */
  uint64_t staging_buffers_mapped;
  /* fault latency histogram: bucket i counts faults served in [2^i, 2^(i+1)) microseconds,
   * bucket 0 those under 2, the last one everything from 2^31 */
  uint64_t fault_latency_us_log2[MMAPURL_STATS_LATENCY_BUCKETS];
  uint64_t cache_filled_pages; /* pages filled from the disk cache file instead of the network */
  uint64_t cached_bytes;       /* bytes the disk cache files hold now (page-rounded) */
};

/* Fills `out` with the counters of the mapping that contains `addr`, or of the whole process
 * when `addr` is NULL. The caller sets out->size = sizeof(struct mmapurl_stats) first; the
 * library fills the fields that fit in out->size bytes, writes nothing past them, and sets
 * out->size to the bytes it filled. So a program built against older headers gets the fields it
 * knows, and one built against newer headers, running with an older library, finds out->size
 * smaller than it passed and the fields past it untouched. Returns 0, or -1 with errno EINVAL
 * when `out` is NULL, out->size cannot hold the size field itself, or `addr` is not inside a
 * mapping returned by mmap_s3. Before the first mapping the process's counters are all zero. */
int mmapurl_stats_get(const void* addr, struct mmapurl_stats* out);

/* Copies [addr, addr+len) of a mapping returned by mmap_s3 into `buf`, fetching what is missing,
 * like pread(2) on the object: returns the bytes copied (fewer at the object's end, or before a
 * page that failed), 0 at the end, or -1 with errno: EIO when the first page failed for good (a
 * touch of it raises SIGBUS), EINVAL when `addr` is not inside such a mapping, EDEADLK on the
 * engine's own thread. Never raises SIGBUS in the caller, even with a user-mode-only
 * userfaultfd. Thread-safe; it waits for the network like a touch does. */
ssize_t mmapurl_read(const void* addr, void* buf, size_t len);

#define MMAPURL_METRICS_PROMETHEUS 0  /* Prometheus text format 0.0.4 */
#define MMAPURL_METRICS_OPENMETRICS 1 /* OpenMetrics 1.0.0 text, ending with "# EOF" */

/* The process-wide counters of mmapurl_stats_get(NULL, ...) as text for a metrics scraper:
 * counters mmapurl_*_total, gauges (resident, in-flight and cached bytes, connections), and the
 * fault latency as a histogram mmapurl_fault_latency_seconds (exact buckets and _count; _sum is
 * estimated from the bucket midpoints, as the engine keeps no exact sum). No labels but the
 * histogram's `le`: no URL, host or credential ever appears. `format` is one of the
 * MMAPURL_METRICS_* values.
 * Like snprintf: when len > 0, writes at most len - 1 bytes of the text and a terminating NUL
 * into buf; when len == 0 writes nothing, and buf may be NULL. Returns the length of the whole
 * text without its NUL: the text was cut if the result is >= len. Each call takes a new
 * snapshot, and the counters may grow between two calls, so ask for the size, then call again
 * with some room to spare (or loop until the result is < len). Returns 0 (and writes "" when
 * len > 0) if `format` is unknown; the text is never empty otherwise (all zeros before the first
 * mapping). */
size_t mmapurl_metrics_text(char* buf, size_t len, int format);

/* Last error message of this thread's failed mmap_s3, with secrets removed ("" if none). */
const char* mmapurl_last_error_message(void);

#ifdef __cplusplus
}
#endif

#endif /* MMAPURL_EXT_H */
