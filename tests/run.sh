#!/usr/bin/env bash
# Builds everything and runs the whole test suite with ctest.
#   tests/run.sh                          RelWithDebInfo build in build/, -Werror
#   tests/run.sh --sanitize address,undefined   ASan+UBSan build in build-asan/
#   tests/run.sh --sanitize thread        TSan build in build-tsan/, concurrency tests only
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=""
if [[ "${1:-}" == "--sanitize" ]]; then sanitize="$2"; fi
dir=build
filter=()
case "$sanitize" in
  "") ;;
  thread) dir=build-tsan; filter=(-L concurrency) ;;
  # The installed-tree tests link an outside C program against the library: with a sanitizer
  # runtime inside it that needs the same flags, so they run in the plain build only.
  *) dir=build-asan; filter=(-E "InstalledTree") ;;
esac
jobs=${MMAPURL_JOBS:-2}
t0=$(date +%s)
cmake -S . -B "$dir" -DMMAPURL_WERROR=ON ${sanitize:+-DMMAPURL_SANITIZE=$sanitize} >/dev/null
cmake --build "$dir" -j"$jobs"
t1=$(date +%s)
echo "=== build ($dir) took $((t1 - t0)) s"
# SIGBUS is how mmapurl reports a page that cannot be fetched: let the tests see it.
export ASAN_OPTIONS="handle_sigbus=0:handle_segv=0:detect_leaks=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:handle_sigbus=0:${TSAN_OPTIONS:-}"
ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 "${filter[@]}"
echo "=== tests ($dir) took $(( $(date +%s) - t1 )) s"
