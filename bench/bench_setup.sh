# Sourced first by the engine, shaper and loaded-latency benchmarks, from the repository's root:
#   source bench/bench_setup.sh BUILD_DIR NAME DEFAULT_RUNS TARGET...
# A new build directory is configured Release; an existing one is only brought up to date (a binary
# left from an older checkout must not stand in for this one). Sets build, size_mb (SIZE_MB, 1024),
# runs (RUNS, DEFAULT_RUNS), out (OUT, bench/results/NAME-DATE.jsonl) and work (a scratch directory
# removed at exit, with every background job killed).
build=$1
[[ -f $build/CMakeCache.txt ]] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j2 --target "${@:4}" > /dev/null
size_mb=${SIZE_MB:-1024}
runs=${RUNS:-$3}
out=${OUT:-bench/results/$2-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "/tmp/mmapurl-$2-XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
