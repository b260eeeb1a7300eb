"""mmapurl.File under zipfile, tarfile and io.BufferedReader, over archives served by nginx."""

import io
import tarfile
import zipfile

import pytest

import mmapurl
from conftest import ARCHIVE_MEMBERS


def test_zipfile_reads_every_member(nginx):
    with mmapurl.File(nginx.https_url("/archive.zip")) as f:
        assert f.readable() and f.seekable() and not f.writable()
        with zipfile.ZipFile(f) as z:
            assert sorted(z.namelist()) == sorted(ARCHIVE_MEMBERS)
            assert z.testzip() is None
            for name, content in ARCHIVE_MEMBERS.items():
                assert z.read(name) == content
            with z.open("dir/random.bin") as member:
                member.seek(1000)
                assert member.read(50) == ARCHIVE_MEMBERS["dir/random.bin"][1000:1050]
        mapping = f.mapping
    assert f.closed and mapping.closed  # File(url) owns its mapping


@pytest.mark.parametrize("name,mode", [("archive.tar", "r:"), ("archive.tar.gz", "r:gz")])
def test_tarfile_reads_every_member(nginx, name, mode):
    with mmapurl.open(nginx.https_url("/" + name)) as m:
        with m.as_file() as f, tarfile.open(fileobj=f, mode=mode) as t:
            members = {i.name: i for i in t.getmembers()}
            assert sorted(members) == sorted(ARCHIVE_MEMBERS)
            for member, content in ARCHIVE_MEMBERS.items():
                assert t.extractfile(members[member]).read() == content
        assert not m.closed  # as_file() borrows the mapping
    assert m.closed


def test_tarfile_stream_mode_through_a_buffered_reader(nginx):
    with mmapurl.File(nginx.http_url("/archive.tar.gz")) as raw:
        buffered = io.BufferedReader(raw, buffer_size=8192)
        with tarfile.open(fileobj=buffered, mode="r|gz") as t:
            seen = {}
            for info in t:
                seen[info.name] = t.extractfile(info).read()
        assert seen == ARCHIVE_MEMBERS


def test_raw_file_semantics(nginx, small):
    with mmapurl.File(nginx.https_url("/small.bin")) as f:
        assert f.tell() == 0
        assert f.read(10) == small[:10]
        assert f.seek(-5, io.SEEK_END) == len(small) - 5
        assert f.read() == small[-5:]
        assert f.read(10) == b""
        assert f.seek(100) == 100
        buf = bytearray(64)
        assert f.readinto(buf) == 64 and buf == small[100:164]
        assert f.seek(10, io.SEEK_CUR) == 174
        view = memoryview(bytearray(16)).cast("B", (4, 4))  # a 2-D buffer is read flat
        assert f.readinto(view) == 16 and view.tobytes() == small[174:190]
        f.seek(0)
        assert f.readall() == small
        with pytest.raises(OSError):
            f.seek(-1)
        with pytest.raises(ValueError):
            f.seek(0, 7)
        assert "small.bin" in f.name
    with pytest.raises(ValueError):
        f.read(1)
    with io.BufferedReader(mmapurl.File(nginx.https_url("/small.bin"))) as b:
        assert b.peek(1)[:1] == small[:1]
        assert b.read() == small
