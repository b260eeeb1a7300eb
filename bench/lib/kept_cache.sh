#!/usr/bin/env bash
# bench/run.sh kept-cache [BUILD_DIR] [--runs N] [--no-build]     env: SIZE_MB (512), OUT, WORK
#
# MMAPURL_CACHE_KEEP=1, a program's first run against its next ones: a SIZE_MB (default 512)
# random object behind one nginx, S3-like (mmapurl-shaper: 20 ms round trip, 50 MB/s per
# connection). In each round, each uffd-bench run a process of its own, every byte verified:
#   net      a sequential scan and 2000 random pages with no cache (what every run costs without it)
#   first    the scan with MMAPURL_CACHE_KEEP=1 and an empty directory (it fills the kept file)
#   next     the scan again, a new process: from the kept file
#   next     2000 random pages, a new process: from the kept file
# and, for "download the object first", curl of the whole object through the shaper into a
# local file, then `cat` of that file (its next runs).
# One line per run, printed and written to bench/results/kept-cache-DATE.txt (OUT): round case
# scenario seconds MB/s p50_us p99_us requests verified. 3 rounds (--runs) by default, about
# 3 minutes each at 512 MiB (the uncached random reads take 40 s).
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
source "$here/common.sh"
B=build R=3
while (($#)); do
  case $1 in
    --runs) R=${2:?}; shift ;;
    --no-build) NO_BUILD=1 ;;
    -*) die "kept-cache: unknown option $1 (bench/run.sh kept-cache --help)" ;;
    *) if [[ $1 =~ ^[0-9]+$ ]]; then R=$1; else B=$1; fi ;;  # the old BUILD [ROUNDS] too
  esac
  shift
done
B=$(from_caller "$B")
[[ -n ${OUT:-} ]] && OUT=$(from_caller "$OUT")
bench_build "$B" uffd-bench mmapurl-shaper
B=$(cd "$B" && pwd)
results=${OUT:-bench/results/kept-cache-$(date +%Y%m%d-%H%M%S).txt}
mkdir -p "$(dirname "$results")"
exec > >(tee "$results")
work=${WORK:-/tmp/mmapurl-kept-cache}
size_mb=${SIZE_MB:-512}
mkdir -p "$work"
source "$here/serve_random_object.sh"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
source "$here/warm_up.sh"
source "$here/start_s3like_shaper.sh" "$B"
url=https://127.0.0.1:$shaper_port/obj
summary='import json,sys
d=json.load(sys.stdin); l=d.get("latency_us",{})
print(d.get("seconds"), d.get("mb_per_s"), l.get("p50"), l.get("p99"), d.get("requests"),
      bool(d.get("ok")) and bool(d.get("verified")))'
bench() {  # CASE SCENARIO [VAR=VALUE...]
  local case=$1 scenario=$2
  shift 2
  warm_up "$work/www/obj" >/dev/null 2>&1
  out=$(env "$@" "$B/tools/uffd-bench" "$url" --json --scenario "$scenario" --random-reads 2000 \
    --verify-file "$work/www/obj" 2>/dev/null)
  echo "$r $case $scenario $(echo "$out" | python3 -c "$summary" 2>&1 | tail -1)"
}
timed() {  # CASE SCENARIO COMMAND...: seconds of a shell command
  local case=$1 scenario=$2 start end
  shift 2
  warm_up "$work/www/obj" >/dev/null 2>&1
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  echo "$r $case $scenario $(python3 -c "print(round($end - $start, 3), round($size_mb * 1.048576 / ($end - $start), 1))") - - - $(cmp -s "$work/local" "$work/www/obj" && echo true || echo false)"
}
for r in $(seq "$R"); do
  bench net seq
  bench net rand
  rm -rf "$work/cache" && mkdir -p "$work/cache"
  bench first seq MMAPURL_CACHE_DIR="$work/cache" MMAPURL_CACHE_KEEP=1
  bench next seq MMAPURL_CACHE_DIR="$work/cache" MMAPURL_CACHE_KEEP=1
  bench next rand MMAPURL_CACHE_DIR="$work/cache" MMAPURL_CACHE_KEEP=1
  rm -f "$work/local"
  timed download-first curl curl -sS --cacert "$work/cert.pem" -o "$work/local" "$url"
  timed download-next cat sh -c "cat '$work/local' > /dev/null"
done
rm -f "$work/local"
kill "$shaper_pid" "$nginx_pid"
wait "$shaper_pid" "$nginx_pid" 2>/dev/null
