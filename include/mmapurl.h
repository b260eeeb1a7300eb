/* mmapurl: memory-map a remote object (https://, http://, s3://) with userfaultfd.
 * The three-call C API of the original mmapurl; everything else is additive. */
#ifndef MMAPURL_H
#define MMAPURL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

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
 * safe to call from many threads at once. */
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
