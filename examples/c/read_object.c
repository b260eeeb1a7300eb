/* read_object URL [BYTES]: maps a remote object (https://, http://, s3://), reads its first BYTES
 * (default 1 MiB) as plain memory, prints their FNV-1a hash, the mapping's counters and the
 * process's as a metrics scraper reads them. */
#define _POSIX_C_SOURCE 200809L /* sigaction, sigsetjmp under -std=c11 */
#include <inttypes.h>
#include <mmapurl.h>
#include <mmapurl_ext.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf fetch_failed;

/* A page that cannot be fetched after mapping (the object changed, retries ran out) raises
 * SIGBUS in the thread that touches it, as an I/O error does under a file mapping. */
static void on_sigbus(int sig) {
  (void)sig;
  siglongjmp(fetch_failed, 1);
}

/* Hashes p[0..n); returns -1 if a page of it could not be fetched. */
static int hash_bytes(const unsigned char* p, size_t n, uint32_t* hash) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigbus;
  sigaction(SIGBUS, &sa, &old);
  int ok = sigsetjmp(fetch_failed, 1) == 0;
  if (ok) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    *hash = h;
  }
  sigaction(SIGBUS, &old, NULL);
  return ok ? 0 : -1;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s URL [BYTES]\n", argv[0]);
    return 2;
  }
  /* A library of another major version may differ in any call: refuse rather than guess. A later
   * minor version of the same major runs this program unchanged. */
  if (mmapurl_version() >> 16 != MMAPURL_VERSION_MAJOR) {
    fprintf(stderr, "read_object: built for mmapurl %d.x, running with %u.%u\n",
            MMAPURL_VERSION_MAJOR, mmapurl_version() >> 16, (mmapurl_version() >> 8) & 0xff);
    return 1;
  }
  size_t size = 0;
  int err = 0;
  const unsigned char* p = mmap_s3(argv[1], &size, &err);
  if (p == MAP_FAILED) {
    /* The code's text, and why in words (without secrets such as a presigned signature). */
    fprintf(stderr, "read_object: %s: %s\n", mmap_s3_errstr(err), mmapurl_last_error_message());
    return 1;
  }
  size_t want = argc == 3 ? (size_t)strtoull(argv[2], NULL, 10) : (size_t)1 << 20;
  if (want > size) want = size;
  uint32_t hash = 0;
  if (hash_bytes(p, want, &hash) != 0) {
    fprintf(stderr, "read_object: a page of %s could not be fetched\n", argv[1]);
    munmap_s3(p);
    return 1;
  }
  printf("size %zu\nread %zu\nfnv1a %08x\n", size, want, (unsigned)hash);

  /* This mapping's counters. `size` first: the library fills the fields that fit in it and sets
   * it to the bytes it filled, so this program runs with later libraries (more fields) and
   * earlier ones (fewer: those past `size` stay zero here). */
  struct mmapurl_stats stats = {.size = sizeof stats};
  if (mmapurl_stats_get(p, &stats) == 0) {
    printf("faults %" PRIu64 "\nrequests %" PRIu64 "\nbytes_fetched %" PRIu64
           "\nprefetch_hits %" PRIu64 "\n",
           stats.faults, stats.requests, stats.bytes_fetched, stats.prefetch_hits);
  }

  /* The process's counters, as a metrics scraper reads them. Ask for the length, then fetch with
   * room to spare: the counters can grow in between. */
  size_t len = mmapurl_metrics_text(NULL, 0, MMAPURL_METRICS_PROMETHEUS) + 4096;
  char* text = malloc(len);
  if (text && mmapurl_metrics_text(text, len, MMAPURL_METRICS_PROMETHEUS) > 0) {
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      if (line[0] != '#' && !strstr(line, "_bucket"))
        puts(line); /* the totals, not the histogram */
    }
  }
  free(text);
  munmap_s3(p);
  return 0;
}
