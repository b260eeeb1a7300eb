#!/usr/bin/env bash
# The one entry point of mmapurl's benchmarks: bench/run.sh SUITE [ARGS...]; bench/README.md says
# what each suite measures, how long it takes and where its results go.
#   bench/run.sh --help            the suites
#   bench/run.sh SUITE --help      a suite's arguments and environment
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
declare -A script=(
  [engine]=engine.sh [peers]=peers.sh [micro]=micro.sh [soak]=soak.sh
  [shaper]=shaper.sh [loaded-latency]=loaded_latency.sh [kept-cache]=kept_cache.sh
  [cache-ab]=cache_ab.sh
)
order=(engine peers micro soak shaper loaded-latency kept-cache cache-ab)
declare -A about=(
  [engine]="uffd-bench against curl on one nginx object, unshaped and S3-like; --vs: two builds side by side"
  [peers]="mmapurl against s3fs, rclone mount, httpdirfs and curl on the same objects (root, long)"
  [micro]="fill-path-bench (UFFDIO_COPY against UFFDIO_MOVE) and fault-round-trip-bench, no network"
  [soak]="mmapurl-soak for an hour: memory, descriptors and bytes over time, with a chart"
  [shaper]="mmapurl-shaper's copying forwarder against --splice: throughput and the shaper's CPU"
  [loaded-latency]="a small GET while the whole-object download loads nginx, one worker against auto"
  [kept-cache]="MMAPURL_CACHE_KEEP=1: a program's first run against its next ones"
  [cache-ab]="two builds on the disk cache's random reads (MMAPURL_CACHE_PREFETCH=whole)"
)
usage() {
  echo "usage: bench/run.sh SUITE [ARGS...]    (bench/run.sh SUITE --help for a suite's arguments)"
  echo
  for s in "${order[@]}"; do printf '  %-15s %s\n' "$s" "${about[$s]}"; done
  echo
  echo "The index, with durations and where results go: bench/README.md. Figures: bench/RESULTS.md."
}
suite_help() {  # the suite script's leading comment block, without the '# '
  sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$here/lib/${script[$1]}"
}
(($#)) || { usage >&2; exit 2; }
case $1 in
  -h | --help | help)
    if [[ -n ${2:-} && -n ${script[$2]:-} ]]; then suite_help "$2"; else usage; fi
    exit 0 ;;
esac
suite=$1
shift
[[ -n ${script[$suite]:-} ]] || { echo "bench/run.sh: unknown suite '$suite'" >&2; usage >&2; exit 2; }
for a in "$@"; do
  [[ $a == -h || $a == --help ]] && { suite_help "$suite"; exit 0; }
done
# Paths in the arguments are the caller's: the suites run from the repository's root.
export BENCH_CWD=$PWD
exec bash "$here/lib/${script[$suite]}" "$@"
