"""Fixtures of the Python package's tests: real servers on loopback, started and stopped here.

Like tests/fixtures/ of the C++ suite (nginx_server.cpp, s3_server.cpp): nginx with a fresh
test CA for HTTPS, and s3rver (npm, tests/fixtures/s3) behind the SigV4-verifying proxy for S3,
objects uploaded with awscli. Every server runs in its own process group under
`setpriv --pdeathsig KILL` (gone with this process), with its files in a /tmp/mmapurl-py-* folder
(kept when MMAPURL_KEEP_TEST_DIRS=1).

The engine reads its configuration once, at the process's first mapping, so this module sets the
whole environment it depends on at import, before any test maps anything: the test CA as the only
trust anchor, no proxies, short retry and I/O timeouts, no disk cache, and no AWS settings but
the ones the S3 fixture sets.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import zipfile

import pytest

SOURCE_DIR = os.environ.get("MMAPURL_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
S3_FIXTURE_DIR = os.path.join(SOURCE_DIR, "tests", "fixtures", "s3")
NGINX = "/usr/sbin/nginx"
OPENSSL = "/usr/bin/openssl"
AWS = "/usr/bin/aws"
SYSTEM_PYTHON = "/usr/bin/python3"
SETPRIV = "/usr/bin/setpriv"

RETRY_TIMEOUT_S = 3  # MMAPURL_RETRY_TIMEOUT: how long a dead server takes to fail a page
KEEP = os.environ.get("MMAPURL_KEEP_TEST_DIRS") == "1"

# --- the process's environment, before the engine starts -------------------------------------

SESSION_DIR = tempfile.mkdtemp(prefix="mmapurl-py-")
os.chmod(SESSION_DIR, 0o700)


def _run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (argv[0], r.returncode, r.stdout, r.stderr))
    return r


def make_test_certificates(directory: str) -> dict:
    """A fresh EC P-256 CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    cert, ext = os.path.join(directory, "server.pem"), os.path.join(directory, "server.ext")
    _run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=mmapurl py test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
          "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _run([OPENSSL, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
          "-out", cert, "-days", "2", "-extfile", ext])
    return {"ca": ca, "cert": cert, "key": key}


CERTS = make_test_certificates(SESSION_DIR)
_EMPTY_CERT_DIR = os.path.join(SESSION_DIR, "no-certs")
os.mkdir(_EMPTY_CERT_DIR)

for _name in list(os.environ):
    if (_name.startswith(("MMAPURL_", "AWS_")) and _name not in ("MMAPURL_SOURCE_DIR",
                                                                 "MMAPURL_BINARY_DIR",
                                                                 "MMAPURL_KEEP_TEST_DIRS")) \
            or _name.lower() in ("https_proxy", "http_proxy", "no_proxy", "all_proxy"):
        del os.environ[_name]
os.environ.update({
    "SSL_CERT_FILE": CERTS["ca"],
    "SSL_CERT_DIR": _EMPTY_CERT_DIR,
    "MMAPURL_RETRY_TIMEOUT": str(RETRY_TIMEOUT_S),
    "MMAPURL_IO_TIMEOUT": "3",
    "HOME": SESSION_DIR,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.path.join(SESSION_DIR, "aws_config_empty"),
    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(SESSION_DIR, "aws_credentials_empty"),
})
for _f in ("aws_config_empty", "aws_credentials_empty"):
    open(os.path.join(SESSION_DIR, _f), "w").close()


def pytest_sessionfinish(session, exitstatus):
    if not KEEP:
        shutil.rmtree(SESSION_DIR, ignore_errors=True)


# --- child processes --------------------------------------------------------------------------

def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv, log_path, env=None, cwd=None) -> subprocess.Popen:
    """Starts a server in its own process group, killed when this process dies."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([SETPRIV, "--pdeathsig", "KILL", "--"] + list(argv),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, process_group=0, close_fds=True)


def kill_and_wait(proc, sig=signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for_tcp_port(port, proc, seconds=15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def read_text(path) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# --- nginx ------------------------------------------------------------------------------------

class NginxServer:
    """nginx over `docroot` on free loopback ports: HTTPS (the session's test CA) and HTTP.
    master_process off, so kill_hard() really kills it; /forbidden/ answers 403."""

    def __init__(self, docroot: str):
        self.docroot = os.path.abspath(docroot)
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=SESSION_DIR)
        self.proc = None
        last = ""
        for _ in range(5):  # a port seen free can be taken before nginx binds it
            self.https_port, self.http_port = free_tcp_port(), free_tcp_port()
            if self.https_port == self.http_port:
                continue
            if self._launch():
                return
            last = read_text(os.path.join(self.dir, "error.log"))
        raise RuntimeError("nginx did not start:\n" + last)

    def _config(self) -> str:
        d = self.dir
        return f"""master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{self.https_port} ssl;
    listen 127.0.0.1:{self.http_port};
    server_name localhost 127.0.0.1;
    ssl_certificate {CERTS["cert"]};
    ssl_certificate_key {CERTS["key"]};
    ssl_protocols TLSv1.2 TLSv1.3;
    root {self.docroot};
    location / {{ }}
    location /forbidden/ {{ return 403; }}
  }}
}}
"""

    def _launch(self) -> bool:
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        self.proc = spawn([NGINX, "-p", self.dir + "/", "-c", conf, "-e",
                           os.path.join(self.dir, "error.log"), "-g", "daemon off;"],
                          os.path.join(self.dir, "nginx.out"))
        if wait_for_tcp_port(self.https_port, self.proc) and \
                wait_for_tcp_port(self.http_port, self.proc):
            return True
        kill_and_wait(self.proc, signal.SIGKILL)
        self.proc = None
        return False

    def https_url(self, path: str) -> str:
        return "https://127.0.0.1:%d%s" % (self.https_port, path)

    def http_url(self, path: str) -> str:
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def kill_hard(self) -> None:
        kill_and_wait(self.proc, signal.SIGKILL)
        self.proc = None

    def stop(self) -> None:
        kill_and_wait(self.proc)
        self.proc = None


# --- S3: s3rver behind the SigV4-verifying proxy ----------------------------------------------

def _find_node():
    for candidate in ("/usr/bin/node", "/usr/local/bin/node"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("node")


def _ensure_s3rver_installed():
    entry = os.path.join(S3_FIXTURE_DIR, "node_modules", "s3rver", "bin", "s3rver.js")
    if os.path.exists(entry):
        return entry
    # Serialized with the C++ fixtures (ctest runs test programs in parallel): one `npm ci`.
    with open(os.path.join(S3_FIXTURE_DIR, ".install.lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(entry):
            _run(["/bin/bash", os.path.join(S3_FIXTURE_DIR, "install.sh")], cwd=S3_FIXTURE_DIR,
                 timeout=300)
    return entry


class S3Server:
    """s3rver with the SigV4-verifying proxy in front (tests/fixtures/s3, README there).
    Clients use endpoint_url (the proxy), path style, region us-east-1, key id S3RVER and a
    random secret; objects are uploaded with awscli in an isolated environment."""

    ACCESS_KEY_ID = "S3RVER"
    REGION = "us-east-1"

    def __init__(self):
        for program in (SYSTEM_PYTHON, AWS, NGINX):
            if not os.access(program, os.X_OK):
                raise RuntimeError(program + " is not installed (bash tools/install-deps.sh)")
        node = _find_node()
        if node is None:
            raise RuntimeError("node (Node.js) is not installed (bash tools/install-deps.sh)")
        entry = _ensure_s3rver_installed()
        self.dir = tempfile.mkdtemp(prefix="s3-", dir=SESSION_DIR)
        self.secret = secrets.token_hex(20)
        os.mkdir(os.path.join(self.dir, "data"))
        with open(os.path.join(self.dir, "aws_config"), "w") as f:
            f.write("[default]\ns3 =\n    addressing_style = path\n")
        open(os.path.join(self.dir, "aws_credentials"), "w").close()
        self.s3rver = self.proxy = None
        for _ in range(3):
            if self._launch(node, entry):
                return
            self.stop()
        raise RuntimeError("s3rver / the SigV4 proxy did not start:\n" +
                           read_text(os.path.join(self.dir, "s3rver.log")) +
                           read_text(os.path.join(self.dir, "proxy.log")))

    def _launch(self, node, entry) -> bool:
        self.s3rver_port = free_tcp_port()
        env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
        self.s3rver = spawn([node, entry, "--directory", os.path.join(self.dir, "data"),
                             "--address", "127.0.0.1", "--port", str(self.s3rver_port),
                             "--silent"], os.path.join(self.dir, "s3rver.log"), env=env)
        port_file = os.path.join(self.dir, "proxy.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proxy = spawn([SYSTEM_PYTHON, os.path.join(S3_FIXTURE_DIR, "sigv4_verifying_proxy.py"),
                            "--port-file", port_file, "--upstream-port", str(self.s3rver_port),
                            "--access-key-id", self.ACCESS_KEY_ID,
                            "--secret-access-key", self.secret,
                            "--request-log", os.path.join(self.dir, "requests.log")],
                           os.path.join(self.dir, "proxy.log"), env=env)
        # The proxy binds port 0 itself and writes the port to a file: no race.
        deadline = time.monotonic() + 20
        self.proxy_port = 0
        while time.monotonic() < deadline and self.proxy.poll() is None:
            text = read_text(port_file).strip()
            if text:
                self.proxy_port = int(text)
                break
            time.sleep(0.01)
        return (self.proxy_port != 0 and wait_for_tcp_port(self.proxy_port, self.proxy, 5) and
                wait_for_tcp_port(self.s3rver_port, self.s3rver, 20))

    @property
    def endpoint_url(self) -> str:
        return "http://127.0.0.1:%d" % self.proxy_port

    def aws(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update({
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.REGION,
            "AWS_CONFIG_FILE": os.path.join(self.dir, "aws_config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.dir, "aws_credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "AWS_CLI_AUTO_PROMPT": "off",
            "AWS_MAX_ATTEMPTS": "2",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
            "HOME": self.dir,
        })
        _run([AWS, "--endpoint-url", self.endpoint_url] + list(args), env=env, timeout=120)

    def create_bucket(self, bucket: str) -> None:
        self.aws("s3api", "create-bucket", "--bucket", bucket)

    def put_object(self, bucket: str, key: str, content: bytes) -> None:
        path = os.path.join(self.dir, "upload-" + secrets.token_hex(8))
        with open(path, "wb") as f:
            f.write(content)
        try:
            self.aws("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", path)
        finally:
            os.unlink(path)

    def client_env(self) -> dict:
        """What mmap_s3 reads to reach this server with the right credentials."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": self.REGION,
        }

    def stop(self) -> None:
        kill_and_wait(self.proxy)
        kill_and_wait(self.s3rver)
        self.proxy = self.s3rver = None


# --- test data --------------------------------------------------------------------------------

BIG_SIZE = 64 << 20  # the zero-copy object: 16 Mi little-endian uint32 counting up from 0


def pattern(size: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    import random
    return random.Random(seed).randbytes(size)


ARCHIVE_MEMBERS = {
    "hello.txt": b"hello from a zip served by nginx\n" * 100,
    "dir/random.bin": pattern(300_000, 7),
    "dir/empty": b"",
    "zeros.bin": bytes(1 << 20),
}


def _make_docroot(root: str) -> dict:
    import numpy as np
    os.makedirs(root)
    files = {}
    files["small.bin"] = pattern((1 << 20) + 123, 1)
    for name, content in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(content)
    np.arange(BIG_SIZE // 4, dtype="<u4").tofile(os.path.join(root, "big.u32"))
    with zipfile.ZipFile(os.path.join(root, "archive.zip"), "w") as z:
        for i, (name, content) in enumerate(sorted(ARCHIVE_MEMBERS.items())):
            z.writestr(name, content,
                       compress_type=zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED)
    for mode, name in (("w", "archive.tar"), ("w:gz", "archive.tar.gz")):
        with tarfile.open(os.path.join(root, name), mode) as t:
            for member, content in sorted(ARCHIVE_MEMBERS.items()):
                info = tarfile.TarInfo(member)
                info.size = len(content)
                import io
                t.addfile(info, io.BytesIO(content))
    os.makedirs(os.path.join(root, "forbidden"))
    with open(os.path.join(root, "forbidden", "secret.bin"), "wb") as f:
        f.write(b"x" * 10)
    return files


@pytest.fixture(scope="session")
def docroot():
    root = os.path.join(SESSION_DIR, "docroot")
    files = _make_docroot(root)
    return root, files


@pytest.fixture(scope="session")
def nginx(docroot):
    server = NginxServer(docroot[0])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small(docroot):
    return docroot[1]["small.bin"]


@pytest.fixture(scope="session")
def s3():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch):
    """The S3 server's client settings in this process's environment (read at each mapping)."""
    for k, v in s3.client_env().items():
        monkeypatch.setenv(k, v)
    return s3
