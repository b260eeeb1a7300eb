"""The package as users install it: `cmake --install` into a prefix, and `pip install` offline
into a virtual environment (with Debian's setuptools and pip, no package index). Each installed
copy is imported outside the source tree and maps an object from nginx."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import SESSION_DIR, SOURCE_DIR

BINARY_DIR = os.environ.get("MMAPURL_BINARY_DIR")
needs_build_tree = pytest.mark.skipif(
    not BINARY_DIR, reason="MMAPURL_BINARY_DIR (the CMake build tree) is not set: ctest sets it")

CHECK = ("import mmapurl, sys\n"
         "with mmapurl.open(sys.argv[1]) as m:\n"
         "    print(mmapurl.__file__, len(m), m[:4].hex())\n")


def _cache_value(name):
    with open(os.path.join(BINARY_DIR, "CMakeCache.txt")) as f:
        m = re.search(r"^%s:[A-Z]+=(.*)$" % re.escape(name), f.read(), re.M)
    return m.group(1) if m else None


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def _check_import(python, url, small, cwd, expect_under, env):
    r = subprocess.run([python, "-c", CHECK, url], capture_output=True, text=True, cwd=cwd,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    path, size, head = r.stdout.split()
    assert os.path.realpath(path).startswith(os.path.realpath(expect_under)), path
    assert int(size) == len(small) and head == small[:4].hex()


@needs_build_tree
def test_cmake_install_puts_the_package_where_python_finds_it(nginx, small):
    prefix = os.path.join(SESSION_DIR, "cmake-prefix")
    r = subprocess.run(["cmake", "--install", BINARY_DIR, "--prefix", prefix, "--component",
                        "python"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rel = _cache_value("MMAPURL_PYTHON_INSTALL_DIR")
    assert rel
    site = os.path.join(prefix, rel)
    for f in ("__init__.py", "__init__.pyi", "_mmapurl.pyi", "py.typed"):
        assert os.path.exists(os.path.join(site, "mmapurl", f)), f
    assert [f for f in os.listdir(os.path.join(site, "mmapurl")) if f.startswith("_mmapurl.")
            and f.endswith(".so")]
    # The folder is one the interpreter searches under the configured prefix.
    configured = os.path.join(_cache_value("CMAKE_INSTALL_PREFIX"), rel)
    python = sys.executable  # ctest runs the tests with the interpreter CMake found
    r = subprocess.run([python, "-c", "import sys; print('\\n'.join(sys.path))"],
                       capture_output=True, text=True, env=_clean_env(), check=True)
    assert configured in r.stdout.split("\n"), (configured, r.stdout)
    _check_import(python, nginx.https_url("/small.bin"), small, SESSION_DIR, site,
                  _clean_env(PYTHONPATH=site))


@needs_build_tree
def test_pip_install_offline_into_a_venv(nginx, small):
    """`pip install --no-index --no-build-isolation` of a copy of python/ into a venv that sees
    Debian's setuptools. The extension comes from this build tree (MMAPURL_CMAKE_BUILD_DIR): a
    build from scratch takes minutes, not what a test should spend; setup.py runs the same
    `cmake --build --target _mmapurl` either way."""
    work = os.path.join(SESSION_DIR, "pip")
    pkg = os.path.join(work, "pkg")
    shutil.copytree(os.path.join(SOURCE_DIR, "python"), pkg,
                    ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    python = sys.executable  # ctest runs the tests with the interpreter CMake found
    venv = os.path.join(work, "venv")
    subprocess.run([python, "-m", "venv", "--system-site-packages", "--without-pip", venv],
                   check=True, timeout=120)
    vpy = os.path.join(venv, "bin", "python")
    env = _clean_env(MMAPURL_CMAKE_BUILD_DIR=BINARY_DIR, PIP_NO_INDEX="1",
                     PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-index", "--no-build-isolation", pkg],
                       capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    _check_import(vpy, nginx.https_url("/small.bin"), small, work, venv, _clean_env())
    r = subprocess.run([vpy, "-m", "pip", "show", "-f", "mmapurl"], capture_output=True,
                       text=True, env=env, check=True)
    assert "py.typed" in r.stdout and "__init__.pyi" in r.stdout
