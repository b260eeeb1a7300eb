"""Every error class, against real servers: nginx (404, 403), S3 (NoSuchKey, a wrong secret),
a malformed URL, a refused connection."""

import errno

import pytest

import mmapurl
from conftest import free_tcp_port


def _check(exc, cls, code, errno_value):
    assert type(exc) is cls
    assert isinstance(exc, mmapurl.Error) and isinstance(exc, OSError)
    assert exc.code == code
    assert exc.code_name == [k for k in dir(mmapurl)
                             if k.startswith("MMAP_S3_") and getattr(mmapurl, k) == code][0]
    assert exc.errno == errno_value
    assert exc.strerror  # the library's message
    assert exc.code_name in str(exc)


def test_http_404_is_file_not_found(nginx):
    url = nginx.https_url("/no/such/object.bin")
    with pytest.raises(FileNotFoundError) as info:
        mmapurl.open(url)
    _check(info.value, mmapurl.NotFoundError, mmapurl.MMAP_S3_NOT_FOUND, errno.ENOENT)
    assert info.value.filename == url


def test_http_403_is_permission_error(nginx):
    with pytest.raises(PermissionError) as info:
        mmapurl.open(nginx.https_url("/forbidden/secret.bin"))
    _check(info.value, mmapurl.PermissionDeniedError, mmapurl.MMAP_S3_PERMISSION_ERROR,
           errno.EACCES)


@pytest.mark.parametrize("url", ["not a url", "ftp://example.org/x", "s3://", "https://",
                                 "s3:///key"])
def test_malformed_url_is_value_error(url):
    with pytest.raises(ValueError) as info:
        mmapurl.open(url)
    _check(info.value, mmapurl.InvalidURLError, mmapurl.MMAP_S3_INVALID_S3URL, errno.EINVAL)


def test_nul_in_url_is_value_error():
    with pytest.raises(ValueError):
        mmapurl.open("https://127.0.0.1/a\0b")


def test_refused_connection_is_error():
    port = free_tcp_port()  # nothing listens there
    with pytest.raises(mmapurl.Error) as info:
        mmapurl.open("http://127.0.0.1:%d/x" % port)
    exc = info.value
    assert not isinstance(exc, (FileNotFoundError, PermissionError, ValueError))
    _check(exc, mmapurl.Error, mmapurl.MMAP_S3_IOERROR, errno.EIO)
    assert "refused" in exc.strerror.lower()


def test_presigned_query_is_not_shown(nginx):
    with pytest.raises(FileNotFoundError) as info:
        mmapurl.open(nginx.https_url("/missing.bin?X-Amz-Signature=deadbeefsecret"))
    assert "deadbeefsecret" not in str(info.value)
    assert "deadbeefsecret" not in repr(info.value.filename)


def test_s3_object_and_missing_key(s3_env):
    s3 = s3_env
    s3.create_bucket("pybucket")
    content = bytes(range(256)) * 4097
    s3.put_object("pybucket", "dir/object with space.bin", content)
    with mmapurl.open("s3://pybucket/dir/object with space.bin") as m:
        assert len(m) == len(content)
        with memoryview(m) as v:
            assert bytes(v) == content
    with pytest.raises(FileNotFoundError) as info:
        mmapurl.open("s3://pybucket/no-such-key")
    _check(info.value, mmapurl.NotFoundError, mmapurl.MMAP_S3_NOT_FOUND, errno.ENOENT)
    with pytest.raises(FileNotFoundError):
        mmapurl.open("s3://no-such-bucket-here/key")


def test_s3_wrong_secret_is_permission_error(s3_env, monkeypatch):
    s3 = s3_env
    s3.create_bucket("pysecret")
    s3.put_object("pysecret", "k", b"secret bytes")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "0" * 40)
    with pytest.raises(PermissionError) as info:
        mmapurl.open("s3://pysecret/k")
    _check(info.value, mmapurl.PermissionDeniedError, mmapurl.MMAP_S3_PERMISSION_ERROR,
           errno.EACCES)
    assert "0" * 40 not in str(info.value)  # the secret never reaches a message
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    with mmapurl.open("s3://pysecret/k") as m:
        assert m[:] == b"secret bytes"


def test_errstr():
    assert mmapurl.errstr(mmapurl.MMAP_S3_NOT_FOUND)
    assert mmapurl.errstr(12345)
