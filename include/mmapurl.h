/* mmapurl: memory-map a remote object (https://, http://, s3://) with userfaultfd.
 * The three-call C API of the original mmapurl and the library's version; everything else is
 * additive (mmapurl_ext.h). */
#ifndef MMAPURL_H
#define MMAPURL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers. A program built against MAJOR.MINOR runs with a library of the
 * same MAJOR and the same or a later MINOR: every release exports its new calls under a new
 * symbol version (MMAPURL_0.1, MMAPURL_0.2, ...) and never changes the earlier ones, and
 * structures grow only at their end, sized by their leading `size` field (struct mmapurl_stats). */
#define MMAPURL_VERSION_MAJOR 0
#define MMAPURL_VERSION_MINOR 1
#define MMAPURL_VERSION_PATCH 0
/* A version as one number that compares in order: (major << 16) | (minor << 8) | patch. */
#define MMAPURL_MAKE_VERSION(major, minor, patch) \
  ((unsigned)(((major) << 16) | ((minor) << 8) | (patch)))
#define MMAPURL_VERSION \
  MMAPURL_MAKE_VERSION(MMAPURL_VERSION_MAJOR, MMAPURL_VERSION_MINOR, MMAPURL_VERSION_PATCH)

/* The version of the library the program runs with, packed as MMAPURL_MAKE_VERSION packs it
 * (MMAPURL_VERSION is the version of the headers it was built with). */
unsigned mmapurl_version(void);

#define MMAP_S3_OK 0
#define MMAP_S3_ERRNO 1                       /* a system call failed: see errno */
#define MMAP_S3_IOERROR 2                     /* network or protocol error */
#define MMAP_S3_CONTENT_LENGTH_NOT_RETURNED 3 /* the server did not say how large the object is */
#define MMAP_S3_NOT_FOUND 4                   /* 404, NoSuchKey, NoSuchBucket */
#define MMAP_S3_PERMISSION_ERROR 5            /* 401/403, missing or wrong credentials */
#define MMAP_S3_NO_BODY_RETURNED 6            /* the server answered without a body */
#define MMAP_S3_INVALID_S3URL 7               /* the URL is malformed or of an unknown scheme */
#define MMAP_S3_UNKNOWN 8                     /* anything else */

/* Maps the object at `url` read-only. Returns MAP_FAILED on failure. `sz` receives the
 * object's size and `err` an MMAP_S3_* code; both may be NULL. Never throws, never aborts,
 * safe to call from many threads at once. The first call starts the library's engine thread. */
const void* mmap_s3(const char* url, size_t* sz, int* err);

/* Unmaps a pointer returned by mmap_s3. Returns 0, or -1 (doing nothing) for a pointer
 * mmap_s3 did not return. */
int munmap_s3(const void* ptr);

/* A readable description of an MMAP_S3_* code; a generic string for any other value. */
const char* mmap_s3_errstr(int err);

#ifdef __cplusplus
}
#endif

#endif /* MMAPURL_H */
