#!/bin/sh
# Builds and runs the embedded server's self-test and curl throughput check, standalone
# (g++, OpenSSL, GoogleTest), in a scratch directory. SANITIZE=address,undefined to sanitize.
# The self-test's sources are the ctest ones: tests/integration/test_embedded_server.cpp (the
# server on loopback) and tests/unit/test_embedded_server_*.cpp (its pure parts).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tools=$(cd "$here/../.." && pwd)
tests=$(cd "$tools/../tests" && pwd)
out=${OUT:-/tmp/mmapurl-embedded-server-selftest}
mkdir -p "$out"
flags="-std=c++20 -Wall -Wextra -Werror -O2 -g -I$tools"
if [ -n "${SANITIZE:-}" ]; then flags="$flags -fsanitize=$SANITIZE -fno-omit-frame-pointer"; fi
objs=""
for f in "$tools"/embedded_server/*.cpp; do
  o="$out/$(basename "$f" .cpp).o"
  g++ $flags -c "$f" -o "$o"
  objs="$objs $o"
done
g++ $flags "$tests/integration/test_embedded_server.cpp" "$tests"/unit/test_embedded_server_*.cpp $objs -lssl -lcrypto -lgtest -lgtest_main -pthread \
  -o "$out/embedded_server_test"
g++ $flags "$here/curl_throughput_main.cpp" $objs -lssl -lcrypto -pthread -o "$out/curl_throughput"
"$out/embedded_server_test"
if command -v curl >/dev/null; then "$out/curl_throughput"; fi
