// The C API shim: the only place exceptions stop. Every call here is noexcept in effect:
// anything thrown below becomes an error code. Each exported call is listed by name in
// engine/mmapurl.map; only mmap_s3 starts the engine (Engine::get), the others act on the
// running one (Engine::running) and answer "no mapping" or zeros when there is none.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "api/metrics_text.hpp"
#include "core/engine.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

#define MMAPURL_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
using mmapurl::core::Engine;

thread_local std::string g_last_error;

// The process's counters, or the mapping's at `addr`, into `out`. Without an engine there is no
// mapping, and the process's counters are all zero.
bool collect_stats(const void* addr, mmapurl::Stats* out) {
  Engine* engine = Engine::running();
  if (!engine) return addr == nullptr;
  return engine->stats(addr, out);
}

void set_outputs(size_t* sz, int* err, size_t size, int code) {
  if (sz) *sz = size;
  if (err) *err = code;
}
}  // namespace

MMAPURL_EXPORT const void* mmap_s3(const char* url, size_t* sz, int* err) {
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
    Engine* engine = Engine::running();
    return engine ? engine->unmap(ptr) : -1;
  } catch (...) {
    return -1;
  }
}

MMAPURL_EXPORT const char* mmap_s3_errstr(int err) {
  switch (err) {
    case MMAP_S3_OK:
      return "success";
    case MMAP_S3_ERRNO:
      return "system call failed (see errno)";
    case MMAP_S3_IOERROR:
      return "I/O error talking to the server";
    case MMAP_S3_CONTENT_LENGTH_NOT_RETURNED:
      return "server did not return the object's length";
    case MMAP_S3_NOT_FOUND:
      return "object not found";
    case MMAP_S3_PERMISSION_ERROR:
      return "permission denied (credentials missing or refused)";
    case MMAP_S3_NO_BODY_RETURNED:
      return "server returned no body";
    case MMAP_S3_INVALID_S3URL:
      return "invalid or unsupported URL";
    case MMAP_S3_UNKNOWN:
      return "unknown error";
    default:
      return "unrecognised mmapurl error code";
  }
}

MMAPURL_EXPORT int mmapurl_advise(const void* addr, size_t len, int advice) {
  try {
    Engine* engine = Engine::running();
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
    if (!collect_stats(nullptr, &s)) return mmapurl::api::copy_like_snprintf("", buf, len);
    auto kind = format == MMAPURL_METRICS_OPENMETRICS ? mmapurl::api::MetricsFormat::kOpenMetrics
                                                      : mmapurl::api::MetricsFormat::kPrometheus;
    return mmapurl::api::copy_like_snprintf(mmapurl::api::format_metrics_text(s, kind), buf, len);
  } catch (...) {
    return mmapurl::api::copy_like_snprintf("", buf, len);
  }
}

MMAPURL_EXPORT int mmapurl_stats_get(const void* addr, struct mmapurl_stats* out) {
  try {
    if (!out || out->size < sizeof out->size) {
      errno = EINVAL;
      return -1;
    }
    mmapurl::Stats s;
    if (!collect_stats(addr, &s)) {
      errno = EINVAL;
      return -1;
    }
    // Whole fields, as many as the caller's structure has room for, and nothing past them: a
    // caller built against older headers passes a smaller size, one built against newer headers
    // a larger one and learns from the size returned which fields this library filled.
    constexpr size_t kFirst = offsetof(mmapurl_stats, faults);
    constexpr size_t kField = sizeof(uint64_t);
    static_assert(kFirst == sizeof out->size && (sizeof(mmapurl_stats) - kFirst) % kField == 0);
    const size_t fits = std::min(out->size, sizeof(mmapurl_stats));
    const size_t filled = kFirst + (fits - kFirst) / kField * kField;
    const mmapurl_stats& from = s;
    std::memcpy(reinterpret_cast<char*>(out) + kFirst,
                reinterpret_cast<const char*>(&from) + kFirst, filled - kFirst);
    out->size = filled;
    return 0;
  } catch (...) {
    return -1;
  }
}

MMAPURL_EXPORT ssize_t mmapurl_read(const void* addr, void* buf, size_t len) {
  try {
    Engine* engine = Engine::running();
    if (!engine) {
      errno = EINVAL;
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

MMAPURL_EXPORT unsigned mmapurl_version(void) { return MMAPURL_VERSION; }
