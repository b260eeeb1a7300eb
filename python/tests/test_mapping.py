"""Mapping over nginx: len, the buffer protocol, copies, close, advise, stats, the GIL."""

import ctypes
import gc
import hashlib
import http.server
import os
import pickle
import re
import threading
import time

import numpy as np
import pytest

import mmapurl


def test_len_buffer_and_copies(nginx, small):
    with mmapurl.open(nginx.https_url("/small.bin")) as m:
        assert isinstance(m, mmapurl.Mapping)
        assert len(m) == len(small)
        assert not m.closed
        assert m.url == nginx.https_url("/small.bin")
        with memoryview(m) as view:
            assert view.readonly
            assert view.nbytes == len(small)
            assert view.format == "B"
            assert bytes(view[1000:5000]) == small[1000:5000]
            assert view[-1] == small[-1]
        assert bytes(m[4096:8192]) == small[4096:8192]
        assert m[:10] == small[:10]
        assert m[-5:] == small[-5:]
        assert m[10:1:-3] == small[10:1:-3]
        assert m[::100000] == small[::100000]
        assert m[7] == small[7] and m[-1] == small[-1]
        with pytest.raises(IndexError):
            m[len(small)]
        with pytest.raises(TypeError):
            m["x"]
        assert hashlib.sha256(m).digest() == hashlib.sha256(small).digest()
    assert m.closed
    assert "closed" in repr(m)
    with pytest.raises(ValueError):
        len(m)
    with pytest.raises(ValueError):
        memoryview(m)
    m.close()  # closing twice is a no-op


def test_plain_http_and_numpy_view(nginx, docroot):
    with mmapurl.open(nginx.http_url("/big.u32")) as m:
        a = np.frombuffer(m, dtype="<u4")
        assert a.size == len(m) // 4
        assert not a.flags.writeable
        assert a.ctypes.data == m.address  # the array IS the mapping: nothing was copied
        assert a[0] == 0 and a[12345] == 12345 and a[-1] == a.size - 1
        f = np.frombuffer(m, dtype="<f4", count=4, offset=4)
        assert f.tobytes() == np.arange(1, 5, dtype="<u4").tobytes()
        with pytest.raises(ValueError):  # read-only: numpy may not write through it
            a[0] = 1
        del a, f


def test_buffer_is_read_only_for_writers(nginx):
    with mmapurl.open(nginx.https_url("/small.bin")) as m:
        # A writable buffer is refused (PyObject_GetBuffer with PyBUF_WRITABLE = 1).
        get_buffer = ctypes.pythonapi.PyObject_GetBuffer
        get_buffer.argtypes = [ctypes.py_object, ctypes.c_void_p, ctypes.c_int]
        view = ctypes.create_string_buffer(256)  # larger than a Py_buffer
        with pytest.raises(BufferError):
            get_buffer(m, ctypes.addressof(view), 1)
        with pytest.raises(TypeError):
            m.readinto(0, m)
        with pytest.raises(TypeError):  # ctypes sees it read-only
            ctypes.c_char.from_buffer(m)
        a = np.frombuffer(m, dtype="u1")
        with pytest.raises(ValueError):
            a.setflags(write=True)
        del a


def test_close_refuses_while_buffers_are_exported(nginx):
    m = mmapurl.open(nginx.https_url("/small.bin"))
    view = memoryview(m)
    with pytest.raises(BufferError):
        m.close()
    assert not m.closed
    part = view[10:20]
    view.release()
    with pytest.raises(BufferError):  # the slice holds the export too
        m.close()
    part.release()
    a = np.frombuffer(m, dtype="u1")
    with pytest.raises(BufferError):
        m.close()
    del a
    gc.collect()
    m.close()
    assert m.closed


def test_with_block_exit_with_a_live_buffer_raises_buffererror(nginx):
    with pytest.raises(BufferError):
        with mmapurl.open(nginx.https_url("/small.bin")) as m:
            view = memoryview(m)
    assert not m.closed
    view.release()
    m.close()


def test_read_and_readinto(nginx, small):
    with mmapurl.open(nginx.https_url("/small.bin")) as m:
        assert m.read(0, 100) == small[:100]
        assert m.read(len(small) - 10, 100) == small[-10:]  # short at the end
        assert m.read(len(small), 10) == b""
        assert m.read(len(small) + 5000, 10) == b""
        assert m.read(500_000) == small[500_000:]  # size omitted: to the end
        assert m.read() == small
        with pytest.raises(ValueError):
            m.read(-1, 10)
        buf = bytearray(4096)
        assert m.readinto(8192, buf) == 4096 and buf == small[8192:8192 + 4096]
        arr = np.zeros(1000, dtype="u1")
        assert m.readinto(len(small) - 300, arr) == 300
        assert arr[:300].tobytes() == small[-300:]
        with pytest.raises(TypeError):
            m.readinto(0, b"immutable")
        # read() is no export: close works right after it.
    with pytest.raises(ValueError):
        m.read(0, 1)


def test_pickle_maps_the_url_again(nginx, small):
    with mmapurl.open(nginx.https_url("/small.bin")) as m:
        with pickle.loads(pickle.dumps(m)) as again:
            assert again.address != m.address
            assert again.read(0, 4096) == small[:4096]


def test_advise(nginx):
    with mmapurl.open(nginx.http_url("/big.u32")) as m:
        m.advise(0, len(m), mmapurl.RANDOM)
        m.advise(1 << 20, 4 << 20, mmapurl.WILLNEED)
        # WILLNEED fetches in the background: the bytes arrive without a fault.
        deadline = time.monotonic() + 20
        while m.stats()["bytes_fetched"] < (4 << 20) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert m.stats()["bytes_fetched"] >= 4 << 20
        a = np.frombuffer(m, dtype="<u4")
        assert a[(1 << 20) // 4 + 7] == (1 << 20) // 4 + 7
        m.advise(0, len(m), mmapurl.DONTNEED)
        assert a[(1 << 20) // 4 + 7] == (1 << 20) // 4 + 7  # fetched again
        m.advise(0, len(m), mmapurl.SEQUENTIAL)
        m.advise(0, len(m), mmapurl.NORMAL)
        del a
        with pytest.raises(ValueError):
            m.advise(len(m) - 10, 11, mmapurl.WILLNEED)
        with pytest.raises(ValueError):
            m.advise(-1, 10, mmapurl.WILLNEED)
        with pytest.raises(ValueError):
            m.advise(0, 4096, 99)


def _percentile_from_log2(hist, p):
    """What the stats' fault_latency_pNN_us mean: the log2 bucket holding the sample of rank
    floor(p/100 * (n-1)) (0-based), reported at its midpoint 1.5 * 2^i us."""
    n = sum(hist)
    if n == 0:
        return 0.0
    rank = int(p / 100.0 * (n - 1))
    seen = 0
    for i, c in enumerate(hist):
        seen += c
        if seen > rank:
            return 1.5 * 2 ** i
    return 0.0


def test_stats(nginx, small):
    with mmapurl.open(nginx.https_url("/small.bin")) as m:
        a = np.frombuffer(m, dtype="u1")
        total = sum(int(a[i]) for i in range(0, len(a), 65536))
        assert total == sum(small[i] for i in range(0, len(small), 65536))
        del a
        s = m.stats()
        p = mmapurl.process_stats()
    for key in ("faults", "bytes_fetched", "requests", "retries", "prefetch_hits", "evictions",
                "resident_bytes", "in_flight_bytes", "failed_pages", "max_requests_in_flight",
                "connections", "staging_buffers_mapped", "cache_filled_pages", "cached_bytes",
                "fault_latency_us_log2", "fault_latency_p50_us", "fault_latency_p90_us",
                "fault_latency_p99_us"):
        assert key in s and key in p, key
    assert s["faults"] >= 1 and s["requests"] >= 1
    assert s["bytes_fetched"] >= len(small) - (256 << 10) or s["bytes_fetched"] > 0
    assert p["faults"] >= s["faults"] and p["connections"] >= 1
    assert len(s["fault_latency_us_log2"]) == 32
    for stats in (s, p):
        hist = stats["fault_latency_us_log2"]
        assert sum(hist) > 0
        for q in (50, 90, 99):
            assert stats["fault_latency_p%d_us" % q] == _percentile_from_log2(hist, q)
        assert 0 < stats["fault_latency_p50_us"] <= stats["fault_latency_p90_us"] \
            <= stats["fault_latency_p99_us"]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Ranged GETs of one object (the server's `body`), answered from a thread of this process."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        body = self.server.body
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        first = int(m.group(1)) if m else 0
        last = min(int(m.group(2)) if m and m.group(2) else len(body) - 1, len(body) - 1)
        self.server.requests.append((first, last))
        self.send_response(206 if m else 200)
        if m:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(body)))
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("ETag", '"py-gil-object"')
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body[first:last + 1])

    def log_message(self, *args):
        pass


def test_open_and_read_release_the_gil():
    """The object is served by a Python thread of this process: if open() or read() held the GIL
    while waiting for the network, that thread could never answer (the request would time out
    and fail)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    server.daemon_threads = True
    server.body = os.urandom(4 << 20)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/object.bin" % server.server_address[1]
        with mmapurl.open(url) as m:
            assert len(m) == len(server.body)
            m.advise(0, len(m), mmapurl.RANDOM)
            before = len(server.requests)
            off = len(m) - 10000  # far beyond the mapping-time probe: a request of its own
            assert m.read(off, 5000) == server.body[off:off + 5000]
            assert len(server.requests) > before
            buf = bytearray(3000)
            assert m.readinto(2 << 20, buf) == 3000 and buf == server.body[2 << 20:(2 << 20) + 3000]
    finally:
        server.shutdown()
        server.server_close()


def test_threads_read_one_mapping(nginx, docroot):
    with mmapurl.open(nginx.https_url("/big.u32")) as m:
        errors = []

        def worker(k):
            try:
                for j in range(20):
                    off = ((k * 7919 + j * 104729) % (len(m) // 4)) * 4
                    got = np.frombuffer(m.read(off, 4), dtype="<u4")[0]
                    assert got == off // 4
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
