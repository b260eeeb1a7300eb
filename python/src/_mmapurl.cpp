// _mmapurl: the CPython extension under the `mmapurl` Python package (python/mmapurl/).
//
// One type, Mapping: a read-only mapping of a remote object made by mmap_s3. It exports the
// mapping itself through the buffer protocol (zero-copy: numpy.frombuffer, memoryview), counts
// the buffers it has handed out, and refuses to unmap while any is alive (BufferError), as
// Python's own mmap does. read()/readinto() copy through mmapurl_read, which never raises SIGBUS:
// a page that failed becomes OSError(EIO). Everything that may wait on the network or the engine
// (mmap_s3, munmap_s3, mmapurl_advise, the copies) runs with the GIL released.
//
// Errors of mmap_s3 become exceptions built by a factory the package registers at import
// (_set_error_factory: mmapurl.Error and its subclasses live in __init__.py).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "mmapurl.h"
#include "mmapurl.hpp"
#include "mmapurl_ext.h"

namespace {

PyObject* g_error_factory = nullptr;

// Releases the GIL for its scope (no Python API inside).
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(state_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_;
};  // callable(code, errno, message, url) -> exception

struct MappingObject {
  PyObject_HEAD
  const uint8_t* addr;  // nullptr once closed (or never opened)
  size_t size;
  // Buffers exported through the buffer protocol plus copies under way with the GIL released:
  // close() refuses while it is not zero (the memory must outlive them).
  Py_ssize_t exports;
  pid_t pid;      // the process that mapped it: a forked child does not have the mapping
  PyObject* url;  // str
  PyObject* weakreflist;
};

// Raises the exception mapping an MMAP_S3_* code (through the package's factory if set).
void raise_map_error(int code, int saved_errno, const std::string& message, PyObject* url) {
  std::string text = message.empty() ? std::string(mmap_s3_errstr(code)) : message;
  if (g_error_factory == nullptr) {
    PyErr_Format(PyExc_OSError, "mmap_s3 failed (%d): %s", code, text.c_str());
    return;
  }
  PyObject* exc = PyObject_CallFunction(g_error_factory, "iis#O", code, saved_errno, text.data(),
                                        static_cast<Py_ssize_t>(text.size()), url);
  if (exc == nullptr) return;  // the factory raised: that exception stands
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
  Py_DECREF(exc);
}

// The mapping may be used: open, and in the process that made it. Sets ValueError otherwise.
bool check_usable(MappingObject* self) {
  if (self->addr == nullptr) {
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed mapping");
    return false;
  }
  if (self->pid != getpid()) {
    PyErr_SetString(PyExc_ValueError,
                    "this mapping was made by the parent process: mappings do not survive fork "
                    "(MADV_DONTFORK); open the URL again in the child");
    return false;
  }
  return true;
}

// Copies [offset, offset+len) of the mapping into dst without raising SIGBUS (mmapurl_read).
// Called without the GIL. Returns 0, or an errno value (EIO: a page of the range failed to fetch).
int copy_out(const uint8_t* addr, size_t offset, void* dst, size_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < len) {
    // Short before a page that failed: the next call then fails with EIO.
    ssize_t n = mmapurl_read(addr + offset + done, out + done, len - done);
    if (n < 0) return errno != 0 ? errno : EIO;
    if (n == 0) return EIO;  // the object cannot end inside a range clipped to its size
    done += static_cast<size_t>(n);
  }
  return 0;
}

PyObject* raise_copy_error(int err, size_t offset, size_t len) {
  std::string what = std::string(std::strerror(err)) + " (reading " + std::to_string(len) +
                     " bytes at offset " + std::to_string(offset) +
                     (err == EIO ? ": a page of this range could not be fetched)" : ")");
  PyObject* exc = PyObject_CallFunction(PyExc_OSError, "is", err, what.c_str());
  if (exc != nullptr) {
    PyErr_SetObject(PyExc_OSError, exc);
    Py_DECREF(exc);
  }
  return nullptr;
}

// Clips [offset, offset+want) to the object; want < 0 means "to the end". Sets ValueError for a
// negative offset.
bool clip(MappingObject* self, Py_ssize_t offset, Py_ssize_t want, size_t* len) {
  if (offset < 0) {
    PyErr_SetString(PyExc_ValueError, "offset must be >= 0");
    return false;
  }
  size_t off = static_cast<size_t>(offset);
  size_t avail = off >= self->size ? 0 : self->size - off;
  *len = want < 0 ? avail : std::min(avail, static_cast<size_t>(want));
  return true;
}

// Copies into a new bytes object (with the GIL released for the copy).
PyObject* read_bytes(MappingObject* self, size_t offset, size_t len) {
  PyObject* out = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(len));
  if (out == nullptr || len == 0) return out;
  const uint8_t* addr = self->addr;
  char* dst = PyBytes_AS_STRING(out);
  int err = 0;
  ++self->exports;
  {
    GilRelease unlocked;
    err = copy_out(addr, offset, dst, len);
  }
  --self->exports;
  if (err != 0) {
    Py_DECREF(out);
    return raise_copy_error(err, offset, len);
  }
  return out;
}

PyObject* Mapping_new(PyTypeObject* type, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"url", nullptr};
  PyObject* url = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "U:Mapping", const_cast<char**>(kwlist), &url)) {
    return nullptr;
  }
  Py_ssize_t n = 0;
  const char* c_url = PyUnicode_AsUTF8AndSize(url, &n);
  if (c_url == nullptr) return nullptr;
  if (std::strlen(c_url) != static_cast<size_t>(n)) {
    PyErr_SetString(PyExc_ValueError, "the URL contains a NUL character");
    return nullptr;
  }
  auto* self = reinterpret_cast<MappingObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->addr = nullptr;
  self->size = 0;
  self->exports = 0;
  self->pid = getpid();
  self->weakreflist = nullptr;
  Py_INCREF(url);
  self->url = url;

  std::string url_copy(c_url, static_cast<size_t>(n));
  const void* p = MAP_FAILED;
  size_t size = 0;
  int code = MMAP_S3_UNKNOWN;
  int saved_errno = 0;
  std::string message;
  {
    GilRelease unlocked;
    p = mmap_s3(url_copy.c_str(), &size, &code);
    saved_errno = errno;
    // Thread-local in the library: read it on the thread that called mmap_s3.
    if (p == MAP_FAILED) message = mmapurl_last_error_message();
  }
  if (p == MAP_FAILED) {
    raise_map_error(code, code == MMAP_S3_ERRNO ? saved_errno : 0, message, url);
    Py_DECREF(self);
    return nullptr;
  }
  self->addr = static_cast<const uint8_t*>(p);
  self->size = size;
  return reinterpret_cast<PyObject*>(self);
}

// Unmaps unless buffers are exported. Returns false with BufferError set in that case.
bool do_close(MappingObject* self) {
  if (self->addr == nullptr) return true;
  if (self->exports > 0) {
    PyErr_SetString(PyExc_BufferError,
                    "cannot close a mapping while buffers of it are exported (release every "
                    "memoryview / numpy array of it first) or another thread reads from it");
    return false;
  }
  const uint8_t* addr = self->addr;
  self->addr = nullptr;
  self->size = 0;
  if (self->pid != getpid()) return true;  // a forked child: the mapping is not ours to unmap
  GilRelease unlocked;
  munmap_s3(addr);
  return true;
}

void Mapping_dealloc(MappingObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(reinterpret_cast<PyObject*>(self));
  // No buffer can be alive here (each holds a reference), so this always unmaps.
  if (self->addr != nullptr) do_close(self);
  Py_CLEAR(self->url);
  type->tp_free(reinterpret_cast<PyObject*>(self));
  Py_DECREF(type);
}

int Mapping_getbuffer(MappingObject* self, Py_buffer* view, int flags) {
  if (!check_usable(self)) {
    view->obj = nullptr;
    return -1;
  }
  if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
    PyErr_SetString(PyExc_BufferError, "the mapping is read-only");
    view->obj = nullptr;
    return -1;
  }
  if (PyBuffer_FillInfo(view, reinterpret_cast<PyObject*>(self),
                        const_cast<uint8_t*>(self->addr), static_cast<Py_ssize_t>(self->size),
                        /*readonly=*/1, flags) < 0) {
    return -1;
  }
  ++self->exports;
  return 0;
}

void Mapping_releasebuffer(MappingObject* self, Py_buffer*) { --self->exports; }

Py_ssize_t Mapping_length(MappingObject* self) {
  if (self->addr == nullptr) {
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed mapping");
    return -1;
  }
  return static_cast<Py_ssize_t>(self->size);
}

PyObject* Mapping_subscript(MappingObject* self, PyObject* key) {
  if (!check_usable(self)) return nullptr;
  Py_ssize_t size = static_cast<Py_ssize_t>(self->size);
  if (PyIndex_Check(key)) {
    Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) return nullptr;
    if (i < 0) i += size;
    if (i < 0 || i >= size) {
      PyErr_SetString(PyExc_IndexError, "mapping index out of range");
      return nullptr;
    }
    PyObject* one = read_bytes(self, static_cast<size_t>(i), 1);
    if (one == nullptr) return nullptr;
    long value = static_cast<uint8_t>(PyBytes_AS_STRING(one)[0]);
    Py_DECREF(one);
    return PyLong_FromLong(value);
  }
  if (PySlice_Check(key)) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return nullptr;
    Py_ssize_t n = PySlice_AdjustIndices(size, &start, &stop, step);
    if (step == 1) return read_bytes(self, static_cast<size_t>(start), static_cast<size_t>(n));
    // A stepped slice: copy the span it covers, then pick (rare; not worth a special path).
    if (n == 0) return PyBytes_FromStringAndSize(nullptr, 0);
    Py_ssize_t lo = step > 0 ? start : start + (n - 1) * step;
    Py_ssize_t hi = step > 0 ? start + (n - 1) * step : start;
    PyObject* span = read_bytes(self, static_cast<size_t>(lo), static_cast<size_t>(hi - lo + 1));
    if (span == nullptr) return nullptr;
    PyObject* out = PyBytes_FromStringAndSize(nullptr, n);
    if (out != nullptr) {
      const char* src = PyBytes_AS_STRING(span);
      char* dst = PyBytes_AS_STRING(out);
      for (Py_ssize_t k = 0; k < n; ++k) dst[k] = src[start + k * step - lo];
    }
    Py_DECREF(span);
    return out;
  }
  PyErr_Format(PyExc_TypeError, "mapping indices must be integers or slices, not %.200s",
               Py_TYPE(key)->tp_name);
  return nullptr;
}

PyObject* Mapping_close(MappingObject* self, PyObject*) {
  if (!do_close(self)) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Mapping_enter(MappingObject* self, PyObject*) {
  if (self->addr == nullptr) {
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed mapping");
    return nullptr;
  }
  Py_INCREF(self);
  return reinterpret_cast<PyObject*>(self);
}

PyObject* Mapping_exit(MappingObject* self, PyObject*) {
  if (!do_close(self)) return nullptr;
  Py_RETURN_FALSE;
}

PyObject* Mapping_read(MappingObject* self, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"offset", "size", nullptr};
  Py_ssize_t offset = 0, want = -1;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|nn:read", const_cast<char**>(kwlist), &offset,
                                   &want)) {
    return nullptr;
  }
  if (!check_usable(self)) return nullptr;
  size_t len = 0;
  if (!clip(self, offset, want, &len)) return nullptr;
  return read_bytes(self, static_cast<size_t>(offset), len);
}

PyObject* Mapping_readinto(MappingObject* self, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"offset", "buffer", nullptr};
  Py_ssize_t offset = 0;
  Py_buffer view;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "nw*:readinto", const_cast<char**>(kwlist),
                                   &offset, &view)) {
    return nullptr;
  }
  size_t len = 0;
  if (!check_usable(self) || !clip(self, offset, view.len, &len)) {
    PyBuffer_Release(&view);
    return nullptr;
  }
  const uint8_t* addr = self->addr;
  void* dst = view.buf;
  int err = 0;
  if (len > 0) {
    ++self->exports;
    {
      GilRelease unlocked;
      err = copy_out(addr, static_cast<size_t>(offset), dst, len);
    }
    --self->exports;
  }
  PyBuffer_Release(&view);
  if (err != 0) return raise_copy_error(err, static_cast<size_t>(offset), len);
  return PyLong_FromSize_t(len);
}

PyObject* Mapping_advise(MappingObject* self, PyObject* args, PyObject* kwds) {
  static const char* kwlist[] = {"offset", "length", "advice", nullptr};
  Py_ssize_t offset = 0, length = 0;
  int advice = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "nni:advise", const_cast<char**>(kwlist), &offset,
                                   &length, &advice)) {
    return nullptr;
  }
  if (!check_usable(self)) return nullptr;
  if (offset < 0 || length < 0 || static_cast<size_t>(offset) > self->size ||
      static_cast<size_t>(length) > self->size - static_cast<size_t>(offset)) {
    PyErr_Format(PyExc_ValueError, "range [%zd, %zd + %zd) is outside the mapping (%zu bytes)",
                 offset, offset, length, self->size);
    return nullptr;
  }
  if (length == 0) Py_RETURN_NONE;
  const uint8_t* addr = self->addr;
  int rc = 0;
  ++self->exports;
  {
    GilRelease unlocked;
    rc = mmapurl_advise(addr + offset, static_cast<size_t>(length), advice);
  }
  --self->exports;
  if (rc != 0) {
    PyErr_Format(PyExc_ValueError, "mmapurl_advise refused advice %d for this range", advice);
    return nullptr;
  }
  Py_RETURN_NONE;
}

// A Stats as a dict, with the fault-latency percentiles (see fault_latency_percentile_us).
PyObject* stats_dict(const mmapurl::Stats& s) {
  PyObject* hist = PyList_New(static_cast<Py_ssize_t>(MMAPURL_STATS_LATENCY_BUCKETS));
  if (hist == nullptr) return nullptr;
  for (size_t i = 0; i < MMAPURL_STATS_LATENCY_BUCKETS; ++i) {
    PyObject* v = PyLong_FromUnsignedLongLong(s.fault_latency_us_log2[i]);
    if (v == nullptr) {
      Py_DECREF(hist);
      return nullptr;
    }
    PyList_SET_ITEM(hist, static_cast<Py_ssize_t>(i), v);
  }
  return Py_BuildValue(
      "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:N,s:d,s:d,s:d}",  //
      "faults", static_cast<unsigned long long>(s.faults),                          //
      "bytes_fetched", static_cast<unsigned long long>(s.bytes_fetched),            //
      "requests", static_cast<unsigned long long>(s.requests),                      //
      "retries", static_cast<unsigned long long>(s.retries),                        //
      "prefetch_hits", static_cast<unsigned long long>(s.prefetch_hits),            //
      "evictions", static_cast<unsigned long long>(s.evictions),                    //
      "resident_bytes", static_cast<unsigned long long>(s.resident_bytes),          //
      "in_flight_bytes", static_cast<unsigned long long>(s.in_flight_bytes),        //
      "failed_pages", static_cast<unsigned long long>(s.failed_pages),              //
      "max_requests_in_flight", static_cast<unsigned long long>(s.max_requests_in_flight),
      "connections", static_cast<unsigned long long>(s.connections),  //
      "staging_buffers_mapped", static_cast<unsigned long long>(s.staging_buffers_mapped),
      "cache_filled_pages", static_cast<unsigned long long>(s.cache_filled_pages),  //
      "cached_bytes", static_cast<unsigned long long>(s.cached_bytes),              //
      "fault_latency_us_log2", hist,                                                //
      "fault_latency_p50_us", s.fault_latency_percentile_us(50),                    //
      "fault_latency_p90_us", s.fault_latency_percentile_us(90),                    //
      "fault_latency_p99_us", s.fault_latency_percentile_us(99));
}

PyObject* Mapping_stats(MappingObject* self, PyObject*) {
  if (!check_usable(self)) return nullptr;
  mmapurl::Stats s;
  int rc = 0;
  const uint8_t* addr = self->addr;
  ++self->exports;
  {
    GilRelease unlocked;
    rc = mmapurl_stats_get(addr, &s);
  }
  --self->exports;
  if (rc != 0) {
    PyErr_SetString(PyExc_RuntimeError, "mmapurl_stats_get failed for this mapping");
    return nullptr;
  }
  return stats_dict(s);
}

PyObject* Mapping_get_closed(MappingObject* self, void*) {
  return PyBool_FromLong(self->addr == nullptr);
}

PyObject* Mapping_get_url(MappingObject* self, void*) {
  Py_INCREF(self->url);
  return self->url;
}

PyObject* Mapping_get_address(MappingObject* self, void*) {
  return PyLong_FromVoidPtr(const_cast<uint8_t*>(self->addr));
}

PyObject* Mapping_repr(MappingObject* self) {
  // The URL without its query: a presigned URL's signature does not belong in a repr.
  PyObject* shown = self->url;
  Py_INCREF(shown);
  Py_ssize_t q = PyUnicode_FindChar(self->url, '?', 0, PyUnicode_GET_LENGTH(self->url), 1);
  if (q >= 0) {
    Py_DECREF(shown);
    PyObject* head = PyUnicode_Substring(self->url, 0, q);
    if (head == nullptr) return nullptr;
    shown = PyUnicode_FromFormat("%U?...", head);
    Py_DECREF(head);
    if (shown == nullptr) return nullptr;
  }
  PyObject* out =
      self->addr == nullptr
          ? PyUnicode_FromFormat("<%s %R closed>", Py_TYPE(self)->tp_name, shown)
          : PyUnicode_FromFormat("<%s %R size=%zu>", Py_TYPE(self)->tp_name, shown, self->size);
  Py_DECREF(shown);
  return out;
}

PyMethodDef Mapping_methods[] = {
    {"close", reinterpret_cast<PyCFunction>(Mapping_close), METH_NOARGS,
     "close()\n--\n\nUnmaps (munmap_s3). Raises BufferError while buffers of the mapping are "
     "exported (memoryviews, numpy arrays): release them first. Closing twice is a no-op."},
    {"__enter__", reinterpret_cast<PyCFunction>(Mapping_enter), METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(Mapping_exit), METH_VARARGS, nullptr},
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Mapping_read)),
     METH_VARARGS | METH_KEYWORDS,
     "read(offset=0, size=-1)\n--\n\nCopies up to `size` bytes from `offset` (all to the end "
     "when size < 0) into a new bytes object; short at the end of the object, b'' past it. "
     "Never raises SIGBUS: a page that cannot be fetched raises OSError(errno.EIO). Releases "
     "the GIL while it waits."},
    {"readinto", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Mapping_readinto)),
     METH_VARARGS | METH_KEYWORDS,
     "readinto(offset, buffer)\n--\n\nCopies into a writable buffer from `offset`; returns the "
     "number of bytes copied (less than len(buffer) at the end of the object). Errors as "
     "read()."},
    {"advise", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Mapping_advise)),
     METH_VARARGS | METH_KEYWORDS,
     "advise(offset, length, advice)\n--\n\nLike madvise(2) for a range of the mapping "
     "(mmapurl_advise): advice is one of mmapurl.NORMAL, SEQUENTIAL, RANDOM, WILLNEED, "
     "DONTNEED. ValueError for a range outside the mapping or an unknown advice."},
    {"stats", reinterpret_cast<PyCFunction>(Mapping_stats), METH_NOARGS,
     "stats()\n--\n\nThis mapping's counters as a dict (see mmapurl.process_stats)."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef Mapping_getset[] = {
    {"closed", reinterpret_cast<getter>(Mapping_get_closed), nullptr,
     "True once close() has unmapped it.", nullptr},
    {"url", reinterpret_cast<getter>(Mapping_get_url), nullptr, "The URL it maps.", nullptr},
    {"address", reinterpret_cast<getter>(Mapping_get_address), nullptr,
     "The mapping's address (0 once closed).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMemberDef Mapping_members[] = {
    {"__weaklistoffset__", T_PYSSIZET,
     static_cast<Py_ssize_t>(offsetof(MappingObject, weakreflist)), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot Mapping_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Mapping_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Mapping_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(Mapping_repr)},
    {Py_tp_methods, Mapping_methods},
    {Py_tp_getset, Mapping_getset},
    {Py_tp_members, Mapping_members},
    {Py_tp_doc,
     const_cast<char*>(
         "Mapping(url)\n--\n\nA read-only memory mapping of the remote object at `url` "
         "(https://, http://, s3://). Opening sends the first ranged GET and releases the GIL "
         "while it waits. Supports len(), the buffer protocol (read-only, zero-copy), "
         "indexing and slicing (copies, through read()), and `with`.")},
    {Py_mp_length, reinterpret_cast<void*>(Mapping_length)},
    {Py_mp_subscript, reinterpret_cast<void*>(Mapping_subscript)},
    {Py_sq_length, reinterpret_cast<void*>(Mapping_length)},
    {Py_bf_getbuffer, reinterpret_cast<void*>(Mapping_getbuffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(Mapping_releasebuffer)},
    {0, nullptr}};

PyType_Spec Mapping_spec = {"mmapurl._mmapurl.Mapping", sizeof(MappingObject), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Mapping_slots};

PyObject* mod_process_stats(PyObject*, PyObject*) {
  mmapurl::Stats s;
  int rc = 0;
  {
    GilRelease unlocked;
    rc = mmapurl_stats_get(nullptr, &s);
  }
  if (rc != 0) {
    PyErr_SetString(PyExc_RuntimeError, "mmapurl_stats_get failed");
    return nullptr;
  }
  return stats_dict(s);
}

PyObject* mod_errstr(PyObject*, PyObject* arg) {
  int code = static_cast<int>(PyLong_AsLong(arg));
  if (code == -1 && PyErr_Occurred()) return nullptr;
  return PyUnicode_FromString(mmap_s3_errstr(code));
}

PyObject* mod_set_error_factory(PyObject*, PyObject* arg) {
  if (!PyCallable_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "the error factory must be callable");
    return nullptr;
  }
  Py_INCREF(arg);
  Py_XSETREF(g_error_factory, arg);
  Py_RETURN_NONE;
}

PyMethodDef module_methods[] = {
    {"process_stats", mod_process_stats, METH_NOARGS,
     "process_stats()\n--\n\nThe whole process's counters as a dict."},
    {"errstr", mod_errstr, METH_O, "errstr(code)\n--\n\nmmap_s3_errstr(code)."},
    {"_set_error_factory", mod_set_error_factory, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                          "mmapurl._mmapurl",
                          "The C extension under the mmapurl package.",
                          -1,
                          module_methods,
                          nullptr,
                          nullptr,
                          nullptr,
                          nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__mmapurl(void) {
  PyObject* m = PyModule_Create(&module_def);
  if (m == nullptr) return nullptr;
  PyObject* type = PyType_FromSpec(&Mapping_spec);
  if (type == nullptr || PyModule_AddObject(m, "Mapping", type) < 0) {
    Py_XDECREF(type);
    Py_DECREF(m);
    return nullptr;
  }
  struct {
    const char* name;
    int value;
  } constants[] = {
      {"NORMAL", MMAPURL_ADVICE_NORMAL},
      {"SEQUENTIAL", MMAPURL_ADVICE_SEQUENTIAL},
      {"RANDOM", MMAPURL_ADVICE_RANDOM},
      {"WILLNEED", MMAPURL_ADVICE_WILLNEED},
      {"DONTNEED", MMAPURL_ADVICE_DONTNEED},
      {"MMAP_S3_OK", MMAP_S3_OK},
      {"MMAP_S3_ERRNO", MMAP_S3_ERRNO},
      {"MMAP_S3_IOERROR", MMAP_S3_IOERROR},
      {"MMAP_S3_CONTENT_LENGTH_NOT_RETURNED", MMAP_S3_CONTENT_LENGTH_NOT_RETURNED},
      {"MMAP_S3_NOT_FOUND", MMAP_S3_NOT_FOUND},
      {"MMAP_S3_PERMISSION_ERROR", MMAP_S3_PERMISSION_ERROR},
      {"MMAP_S3_NO_BODY_RETURNED", MMAP_S3_NO_BODY_RETURNED},
      {"MMAP_S3_INVALID_S3URL", MMAP_S3_INVALID_S3URL},
      {"MMAP_S3_UNKNOWN", MMAP_S3_UNKNOWN},
  };
  for (const auto& c : constants) {
    if (PyModule_AddIntConstant(m, c.name, c.value) < 0) {
      Py_DECREF(m);
      return nullptr;
    }
  }
  return m;
}
