// The C API shim: the only place exceptions stop. Every call here is noexcept in effect:
// anything thrown below becomes an error code.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "api/metrics_text.hpp"
#include "core/engine.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

#define MMAPURL_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
thread_local std::string g_last_error;

void set_outputs(size_t* sz, int* err, size_t size, int code) {
  if (sz) *sz = size;
  if (err) *err = code;
}
}  // namespace

MMAPURL_EXPORT const void* mmap_s3(const char* url, size_t* sz, int* err) {
  using mmapurl::core::Engine;
  using mmapurl::core::MapOutcome;
  try {
    g_last_error.clear();
    if (!url || !*url) {
      g_last_error = "empty URL";
      set_outputs(sz, err, 0, MMAP_S3_INVALID_S3URL);
      return MAP_FAILED;
    }
    MapOutcome failure;
    Engine* engine = Engine::get(&failure);
    if (!engine) {
      g_last_error = failure.message;
      set_outputs(sz, err, 0, failure.code);
      if (failure.sys_errno) errno = failure.sys_errno;
      return MAP_FAILED;
    }
    MapOutcome out = engine->map(url);
    if (out.code != MMAP_S3_OK) {
      g_last_error = out.message;
      set_outputs(sz, err, 0, out.code);
      if (out.sys_errno) errno = out.sys_errno;
      return MAP_FAILED;
    }
    set_outputs(sz, err, out.size, MMAP_S3_OK);
    return out.addr;
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    set_outputs(sz, err, 0, MMAP_S3_ERRNO);
    errno = ENOMEM;
  } catch (const std::exception& e) {
    g_last_error = e.what();
    set_outputs(sz, err, 0, MMAP_S3_UNKNOWN);
  } catch (...) {
    set_outputs(sz, err, 0, MMAP_S3_UNKNOWN);
  }
  return MAP_FAILED;
}

MMAPURL_EXPORT int munmap_s3(const void* ptr) {
  try {
    if (!ptr || ptr == MAP_FAILED) return -1;
    mmapurl::core::MapOutcome failure;
    auto* engine = mmapurl::core::Engine::get(&failure);
    return engine ? engine->unmap(ptr) : -1;
  } catch (...) {
    return -1;
  }
}

MMAPURL_EXPORT const char* mmap_s3_errstr(int err) {
  switch (err) {
    case MMAP_S3_OK: return "success";
    case MMAP_S3_ERRNO: return "system call failed (see errno)";
    case MMAP_S3_IOERROR: return "I/O error talking to the server";
    case MMAP_S3_CONTENT_LENGTH_NOT_RETURNED: return "server did not return the object's length";
    case MMAP_S3_NOT_FOUND: return "object not found";
    case MMAP_S3_PERMISSION_ERROR: return "permission denied (credentials missing or refused)";
    case MMAP_S3_NO_BODY_RETURNED: return "server returned no body";
    case MMAP_S3_INVALID_S3URL: return "invalid or unsupported URL";
    case MMAP_S3_UNKNOWN: return "unknown error";
    default: return "unrecognised mmapurl error code";
  }
}

MMAPURL_EXPORT int mmapurl_advise(const void* addr, size_t len, int advice) {
  try {
    mmapurl::core::MapOutcome failure;
    auto* engine = mmapurl::core::Engine::get(&failure);
    return engine ? engine->advise(addr, len, advice) : -1;
  } catch (...) {
    return -1;
  }
}

MMAPURL_EXPORT size_t mmapurl_metrics_text(char* buf, size_t len, int format) {
  try {
    if (format != MMAPURL_METRICS_PROMETHEUS && format != MMAPURL_METRICS_OPENMETRICS)
      return mmapurl::api::copy_like_snprintf("", buf, len);
    mmapurl::Stats s;
    if (mmapurl_stats(nullptr, &s, sizeof s) != 0)
      return mmapurl::api::copy_like_snprintf("", buf, len);
    auto kind = format == MMAPURL_METRICS_OPENMETRICS ? mmapurl::api::MetricsFormat::kOpenMetrics
                                                      : mmapurl::api::MetricsFormat::kPrometheus;
    return mmapurl::api::copy_like_snprintf(mmapurl::api::format_metrics_text(s, kind), buf, len);
  } catch (...) {
    return mmapurl::api::copy_like_snprintf("", buf, len);
  }
}

MMAPURL_EXPORT int mmapurl_stats(const void* addr, void* out, size_t out_size) {
  try {
    // This version's Stats, or the one before the disk cache counters (its prefix).
    if (!out || (out_size != sizeof(mmapurl::Stats) && out_size != mmapurl::kStatsSizeBeforeCache))
      return -1;
    mmapurl::core::MapOutcome failure;
    auto* engine = mmapurl::core::Engine::get(&failure);
    if (!engine) return -1;
    mmapurl::Stats s;
    if (!engine->stats(addr, &s)) return -1;
    std::memcpy(out, &s, out_size);
    return 0;
  } catch (...) {
    return -1;
  }
}

MMAPURL_EXPORT ssize_t mmapurl_read(const void* addr, void* buf, size_t len) {
  try {
    mmapurl::core::MapOutcome failure;
    auto* engine = mmapurl::core::Engine::get(&failure);
    if (!engine) {
      errno = failure.sys_errno ? failure.sys_errno : EINVAL;
      return -1;
    }
    int err = 0;
    const long n = engine->read(addr, buf, len, &err);
    if (n < 0) errno = err;
    return n;
  } catch (const std::bad_alloc&) {
    errno = ENOMEM;
  } catch (...) {
    errno = EIO;
  }
  return -1;
}

MMAPURL_EXPORT const char* mmapurl_last_error_message(void) { return g_last_error.c_str(); }
