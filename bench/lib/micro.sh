#!/usr/bin/env bash
# bench/run.sh micro [BUILD_DIR] [fill-path|fault-round-trip|all] [--no-build] [-- ARGS...]
#
# The micro-benchmarks, no network, sources in bench/micro/ (CMake targets fill-path-bench and
# fault-round-trip-bench, built in BUILD_DIR, default build, configured Release if new):
#   fill-path          what one byte costs from the staging write to a readable page:
#                      UFFDIO_COPY against UFFDIO_MOVE (refaulted, populated, huge pages), every
#                      byte verified; defaults --size-mb 512 --runs 3, about 16 s
#                      (docs/decisions/0001-fill-with-uffdio-copy.md)
#   fault-round-trip   one missing-page fault answered by another thread with a 4 KiB
#                      UFFDIO_COPY, by thread placement: the floor a remote fault adds to one
#                      ranged GET; defaults --faults 2000, a few seconds
#   all (default)      both, with their defaults
# ARGS after -- go to the one benchmark named (its own --help lists them; --json for machines).
# Results: printed tables; with OUT=FILE the runs print --json lines instead, appended to FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib/common.sh
build=build
which=all
build_set=""
extra=()
while (($#)); do
  case $1 in
    --no-build) NO_BUILD=1 ;;
    --) shift; extra=("$@"); break ;;
    fill-path | fault-round-trip | all) which=$1 ;;
    -*) die "micro: unknown option $1 (bench/run.sh micro --help)" ;;
    *) [[ -z $build_set ]] || die "micro: one BUILD_DIR only"; build=$1; build_set=1 ;;
  esac
  shift
done
build=$(from_caller "$build")
[[ -n ${OUT:-} ]] && OUT=$(from_caller "$OUT")
[[ $which == all && ${#extra[@]} -gt 0 ]] && die "micro: ARGS after -- need one benchmark named"
run() {  # $1 target, rest: default args
  local t=$1
  shift
  local args=("$@")
  ((${#extra[@]})) && args=("${extra[@]}")
  echo "bench: $t ${args[*]}" >&2
  if [[ -n ${OUT:-} ]]; then
    mkdir -p "$(dirname "$OUT")"
    "$build/bench/$t" "${args[@]}" --json | tee -a "$OUT"
  else
    "$build/bench/$t" "${args[@]}"
  fi
}
case $which in
  fill-path) bench_build "$build" fill-path-bench; run fill-path-bench --size-mb 512 --runs 3 ;;
  fault-round-trip) bench_build "$build" fault-round-trip-bench; run fault-round-trip-bench --faults 2000 ;;
  all)
    bench_build "$build" fill-path-bench fault-round-trip-bench
    run fill-path-bench --size-mb 512 --runs 3
    run fault-round-trip-bench --faults 2000 ;;
esac
