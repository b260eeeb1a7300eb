"""Memory-map remote objects (https://, http://, s3://) and read them as plain memory.

    import mmapurl, numpy as np
    with mmapurl.open("https://example.org/weights.bin") as m:
        a = np.frombuffer(m, dtype="<f4")      # zero-copy: only touched pages are fetched
        del a                                  # release the buffer before the mapping closes

A mapping is read-only. Reading it as memory (the buffer protocol: numpy, memoryview) faults
pages in over the network; a page that cannot be fetched after retries raises SIGBUS in the
thread touching it, as an I/O error under a file mapping does. ``Mapping.read`` /
``Mapping.readinto`` and the file object (``File``) never do: they raise ``OSError(EIO)``.

Configuration comes from the environment (``MMAPURL_*``, ``AWS_*``, ``SSL_CERT_FILE``), read
when the first mapping of the process starts the engine (see the project README).
"""

from __future__ import annotations

import errno as _errno
import io as _io
import os as _os

from . import _mmapurl
from ._mmapurl import (  # noqa: F401  (re-exported)
    DONTNEED,
    MMAP_S3_CONTENT_LENGTH_NOT_RETURNED,
    MMAP_S3_ERRNO,
    MMAP_S3_INVALID_S3URL,
    MMAP_S3_IOERROR,
    MMAP_S3_NO_BODY_RETURNED,
    MMAP_S3_NOT_FOUND,
    MMAP_S3_OK,
    MMAP_S3_PERMISSION_ERROR,
    MMAP_S3_UNKNOWN,
    NORMAL,
    RANDOM,
    SEQUENTIAL,
    WILLNEED,
    errstr,
    process_stats,
)

__all__ = [
    "open", "Mapping", "File", "Error", "NotFoundError", "PermissionDeniedError",
    "InvalidURLError", "process_stats", "errstr",
    "NORMAL", "SEQUENTIAL", "RANDOM", "WILLNEED", "DONTNEED",
    "MMAP_S3_OK", "MMAP_S3_ERRNO", "MMAP_S3_IOERROR", "MMAP_S3_CONTENT_LENGTH_NOT_RETURNED",
    "MMAP_S3_NOT_FOUND", "MMAP_S3_PERMISSION_ERROR", "MMAP_S3_NO_BODY_RETURNED",
    "MMAP_S3_INVALID_S3URL", "MMAP_S3_UNKNOWN",
]

_CODE_NAMES = {
    MMAP_S3_OK: "MMAP_S3_OK",
    MMAP_S3_ERRNO: "MMAP_S3_ERRNO",
    MMAP_S3_IOERROR: "MMAP_S3_IOERROR",
    MMAP_S3_CONTENT_LENGTH_NOT_RETURNED: "MMAP_S3_CONTENT_LENGTH_NOT_RETURNED",
    MMAP_S3_NOT_FOUND: "MMAP_S3_NOT_FOUND",
    MMAP_S3_PERMISSION_ERROR: "MMAP_S3_PERMISSION_ERROR",
    MMAP_S3_NO_BODY_RETURNED: "MMAP_S3_NO_BODY_RETURNED",
    MMAP_S3_INVALID_S3URL: "MMAP_S3_INVALID_S3URL",
    MMAP_S3_UNKNOWN: "MMAP_S3_UNKNOWN",
}


class Error(OSError):
    """A mapping could not be made. ``code`` is the ``MMAP_S3_*`` code, ``code_name`` its name,
    ``strerror`` the library's message (``mmapurl_last_error_message()``: secrets removed),
    ``filename`` the URL without its query string, ``errno`` an errno value (the system call's
    for ``MMAP_S3_ERRNO``; ``ENOENT``, ``EACCES``, ``EINVAL`` for the subclasses; else ``EIO``).
    """

    code: int
    code_name: str

    def __str__(self) -> str:
        return "[%s] %s: %r" % (self.code_name, self.strerror, self.filename)


class NotFoundError(Error, FileNotFoundError):
    """``MMAP_S3_NOT_FOUND``: 404, NoSuchKey, NoSuchBucket."""


class PermissionDeniedError(Error, PermissionError):
    """``MMAP_S3_PERMISSION_ERROR``: 401/403, missing or refused credentials."""


class InvalidURLError(Error, ValueError):
    """``MMAP_S3_INVALID_S3URL``: a malformed URL or an unknown scheme."""


_CLASSES = {
    MMAP_S3_NOT_FOUND: (NotFoundError, _errno.ENOENT),
    MMAP_S3_PERMISSION_ERROR: (PermissionDeniedError, _errno.EACCES),
    MMAP_S3_INVALID_S3URL: (InvalidURLError, _errno.EINVAL),
}


def _shown_url(url: str) -> str:
    """The URL as errors show it: without the query (a presigned URL's signature)."""
    head, sep, _ = url.partition("?")
    return head + ("?..." if sep else "")


def _make_error(code: int, err: int, message: str, url: str) -> Error:
    cls, default_errno = _CLASSES.get(code, (Error, _errno.EIO))
    exc = cls(err or default_errno, message, _shown_url(url))
    exc.code = code
    exc.code_name = _CODE_NAMES.get(code, "MMAP_S3_UNKNOWN")
    return exc


_mmapurl._set_error_factory(_make_error)


class Mapping(_mmapurl.Mapping):
    """Mapping(url): a read-only memory mapping of the remote object at ``url``.

    ``len(m)`` is the object's size. The buffer protocol exports the mapped memory itself
    (read-only, zero-copy): ``np.frombuffer(m, dtype="<f4")``, ``memoryview(m)[a:b]``.
    ``m[i]`` and ``m[a:b]`` copy (an int, bytes) through ``read``, as ``bytes(m[a:b])`` does.
    ``close()`` (or leaving ``with``) unmaps; it raises ``BufferError`` while buffers are
    exported. Mappings do not survive ``fork``: a child opens the URL again.
    """

    __slots__ = ()

    def as_file(self) -> File:
        """A seekable, readable raw file object over this mapping (closing it leaves the
        mapping open)."""
        return File(self)

    def __reduce__(self):
        # Pickling (multiprocessing's spawn, a Pool's arguments) maps the URL anew in the
        # receiving process: the memory itself cannot cross.
        return (type(self), (self.url,))


def open(url: str) -> Mapping:  # noqa: A001  (the module's verb, like gzip.open)
    """Maps the object at ``url`` (``https://``, ``http://``, ``s3://bucket/key``).

    Raises ``NotFoundError`` (a ``FileNotFoundError``), ``PermissionDeniedError`` (a
    ``PermissionError``), ``InvalidURLError`` (a ``ValueError``) or ``Error`` (an ``OSError``);
    all are ``mmapurl.Error`` with the ``MMAP_S3_*`` code in ``.code``. The network part runs
    with the GIL released.
    """
    return Mapping(url)


class File(_io.RawIOBase):
    """File(url_or_mapping): a read-only, seekable raw file over a mapping.

    Reads go through ``Mapping.readinto`` (never SIGBUS: ``OSError(EIO)`` for a page that
    cannot be fetched), so ``zipfile``, ``tarfile`` and ``io.BufferedReader`` work on it. Given a
    URL it opens and owns the mapping (closed with the file); given a ``Mapping`` it borrows it.
    """

    def __init__(self, source: str | Mapping) -> None:
        super().__init__()
        if isinstance(source, _mmapurl.Mapping):
            self._mapping = source
            self._owns = False
        else:
            self._mapping = Mapping(_os.fspath(source))
            self._owns = True
        self._pos = 0
        self.name = self._mapping.url

    @property
    def mapping(self) -> Mapping:
        return self._mapping

    def readable(self) -> bool:
        self._checkClosed()
        return True

    def seekable(self) -> bool:
        self._checkClosed()
        return True

    def writable(self) -> bool:
        self._checkClosed()
        return False

    def readinto(self, buffer) -> int:
        self._checkClosed()
        with memoryview(buffer) as view, view.cast("B") as raw:
            n = self._mapping.readinto(self._pos, raw)
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None:
            size = -1
        data = self._mapping.read(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = _io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == _io.SEEK_SET:
            pos = offset
        elif whence == _io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == _io.SEEK_END:
            pos = len(self._mapping) + offset
        else:
            raise ValueError("invalid whence (%r, should be 0, 1 or 2)" % (whence,))
        if pos < 0:
            raise OSError(_errno.EINVAL, "negative seek position %d" % pos)
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def close(self) -> None:
        # getattr: __del__ closes a File whose __init__ failed too.
        if not self.closed and getattr(self, "_owns", False):
            self._mapping.close()
        super().close()

    def __repr__(self) -> str:
        return "<mmapurl.File %r%s>" % (_shown_url(self.name), " closed" if self.closed else "")
