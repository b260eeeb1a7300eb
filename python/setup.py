"""Builds the extension mmapurl._mmapurl with the repository's CMake build (pyproject.toml has the
metadata). The CMake build directory is this build's temporary folder, or MMAPURL_CMAKE_BUILD_DIR
(an existing, configured build tree of this repository: nothing is configured, only the target
_mmapurl is brought up to date). CMAKE_BUILD_PARALLEL_LEVEL (default 2) sets the jobs;
CMAKE_CXX_COMPILER_LAUNCHER=ccache in the environment speeds up a rebuild."""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MMAPURL_SOURCE_DIR") or os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("MMAPURL_CMAKE_BUILD_DIR")
        if not build_dir:
            if not os.path.exists(os.path.join(SOURCE_DIR, "engine", "CMakeLists.txt")):
                sys.exit("mmapurl: build from a checkout of the repository (pip install ./python), "
                         "or set MMAPURL_SOURCE_DIR to one")
            build_dir = os.path.join(os.path.abspath(self.build_temp), "cmake")
            subprocess.check_call([
                "cmake", "-S", SOURCE_DIR, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                "-DMMAPURL_BUILD_TESTS=OFF", "-DMMAPURL_BUILD_PYTHON=ON",
                "-DPython3_EXECUTABLE=" + sys.executable])
        env = dict(os.environ)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_mmapurl"], env=env)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = glob.glob(os.path.join(build_dir, "python", "mmapurl", "_mmapurl" + suffix))
        if not built:
            sys.exit("mmapurl: the CMake build made no _mmapurl%s in %s (an interpreter other "
                     "than the one it was configured for?)" % (suffix, build_dir))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)
        os.chmod(target, 0o755)


setup(ext_modules=[Extension("mmapurl._mmapurl", sources=[])], cmdclass={"build_ext": CMakeBuild})
