"""Whole-process behaviour: zero-copy numpy (RSS), a server that dies under read(), fork through
multiprocessing, the example program."""

import errno
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import mmapurl
from conftest import BIG_SIZE, SESSION_DIR, NginxServer, RETRY_TIMEOUT_S, SOURCE_DIR, pattern


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_numpy_is_zero_copy(nginx):
    """Mapping 64 MiB and touching a few pages through numpy grows the process by about the
    pages touched (and what readahead brought with them), never by a copy of the object."""
    rss_before = _rss_bytes()
    with mmapurl.open(nginx.https_url("/big.u32")) as m:
        assert len(m) == BIG_SIZE
        a = np.frombuffer(m, dtype="<u4")
        assert a.ctypes.data == m.address
        step = a.size // 16
        for k in range(16):  # 16 pages 4 MiB apart
            i = k * step + 123
            assert a[i] == i
        touched_rss = _rss_bytes() - rss_before
        resident = m.stats()["resident_bytes"]
        del a
    # A copy would add 64 MiB; 16 pages plus the mapping-time probe (256 KiB) and the engine's
    # staging buffers stay far below. resident_bytes counts the filled pages themselves.
    assert touched_rss < 16 << 20, touched_rss
    assert resident < 4 << 20, resident


@pytest.fixture
def doomed_nginx():
    """An nginx of its own, over a docroot of its own, for a test that kills it."""
    root = tempfile.mkdtemp(prefix="doomed-", dir=SESSION_DIR)
    content = pattern(8 << 20, 99)
    with open(os.path.join(root, "doomed.bin"), "wb") as f:
        f.write(content)
    server = NginxServer(root)
    yield server, content
    server.stop()


def test_read_after_the_server_died_raises_oserror(doomed_nginx):
    server, content = doomed_nginx
    with mmapurl.open(server.https_url("/doomed.bin")) as m:
        m.advise(0, len(m), mmapurl.RANDOM)  # fetch only what is asked for
        assert m.read(0, 4096) == content[:4096]
        server.kill_hard()
        far = len(m) - 3 * 4096  # not fetched: far from the probe, no readahead
        with pytest.raises(OSError) as info:
            m.read(far, 4096)
        assert info.value.errno == errno.EIO
        with pytest.raises(OSError) as info:  # failure is sticky
            m.readinto(far, bytearray(100))
        assert info.value.errno == errno.EIO
        assert m.stats()["failed_pages"] >= 1
        assert m.read(0, 4096) == content[:4096]  # what was fetched stays readable
        assert m[100:200] == content[100:200]
    # The interpreter is alive and maps again.
    assert mmapurl.process_stats()["failed_pages"] >= 1


def test_touching_a_failed_page_as_memory_is_sigbus_in_a_child(doomed_nginx):
    """The contrast to read(): the buffer protocol reads memory, and a page that cannot be
    fetched is SIGBUS in the thread touching it, like an I/O error under a file mapping."""
    server, _ = doomed_nginx
    code = ("import mmapurl, numpy as np, sys\n"
            "m = mmapurl.open(sys.argv[1]); m.advise(0, len(m), mmapurl.RANDOM)\n"
            "a = np.frombuffer(m, dtype='u1'); int(a[0])\n"
            "sys.stdout.write('mapped\\n'); sys.stdout.flush(); sys.stdin.readline()\n"
            "int(a[len(a) - 5000])\n"
            "print('survived')\n")
    child = subprocess.Popen([sys.executable, "-c", code, server.https_url("/doomed.bin")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "mapped\n"
    server.kill_hard()
    child.stdin.write("go\n")
    child.stdin.flush()
    out, _ = child.communicate(timeout=RETRY_TIMEOUT_S * 10 + 30)
    assert child.returncode == -signal.SIGBUS, (child.returncode, out)
    assert "survived" not in out


_INHERITED = None  # a mapping the parent made before forking


def _child_maps_anew(args):
    url, offset, size = args
    inherited_refused = False
    try:
        _INHERITED.read(0, 10)
    except ValueError:
        inherited_refused = True
    try:
        memoryview(_INHERITED)
        inherited_refused = False
    except ValueError:
        pass
    with mmapurl.open(url) as m:
        with memoryview(m) as view:
            by_memory = hashlib.sha256(view[offset:offset + size]).hexdigest()
        by_read = hashlib.sha256(m.read(offset, size)).hexdigest()
    return os.getpid(), inherited_refused, by_memory, by_read


def test_fork_children_map_anew(nginx, small):
    global _INHERITED
    url = nginx.https_url("/small.bin")
    _INHERITED = mmapurl.open(url)
    try:
        assert _INHERITED.read(0, 10) == small[:10]  # the parent's engine is running
        jobs = [(url, off, 70_000) for off in (0, 4096, 300_000, len(small) - 70_000)]
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            results = pool.map(_child_maps_anew, jobs, chunksize=1)
        for (_, off, size), (pid, refused, by_memory, by_read) in zip(jobs, results):
            want = hashlib.sha256(small[off:off + size]).hexdigest()
            assert pid != os.getpid()
            assert refused, "the inherited mapping must refuse in the child"
            assert by_memory == want and by_read == want
        assert _INHERITED.read(0, 10) == small[:10]  # the parent's mapping still works
    finally:
        _INHERITED.close()
        _INHERITED = None


def test_example_read_numpy(nginx):
    example = os.path.join(SOURCE_DIR, "examples", "python", "read_numpy.py")
    r = subprocess.run([sys.executable, example, nginx.https_url("/big.u32"), "<u4"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "%d bytes" % BIG_SIZE in r.stdout
    assert "first: [0 1 2 3]" in r.stdout
    assert "last: [16777212 16777213 16777214 16777215]" in r.stdout

