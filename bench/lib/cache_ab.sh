#!/usr/bin/env bash
# bench/run.sh cache-ab BUILD_A --vs BUILD_B [--runs N] [--no-build]     env: SIZE_MB (1024), OUT, WORK
#
# A/B of two builds on the disk cache's random reads, the builds alternated in each round:
# a SIZE_MB (1 GiB) object behind one nginx, S3-like (mmapurl-shaper: 20 ms round trip, 50 MB/s per
# connection) and unshaped; uffd-bench with the -cache settings of the peer bench
# (MMAPURL_CACHE_PREFETCH=whole, MMAPURL_CONNECTIONS=24), 2000 random pages, 1 and 8 threads.
# BUILD_A and BUILD_B are build directories (their uffd-bench is brought up to date; BUILD_A's
# mmapurl-shaper shapes for both). 3 rounds (--runs) by default, about 1 minute each.
# One line per run, printed and written to bench/results/cache-ab-DATE.txt (OUT): round profile
# build scenario seconds p50_us p99_us max_us verified connections requests.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
source "$here/common.sh"
A="" B="" R=3
while (($#)); do
  case $1 in
    --vs) B=${2:?--vs needs a build directory}; shift ;;
    --runs) R=${2:?}; shift ;;
    --no-build) NO_BUILD=1 ;;
    -*) die "cache-ab: unknown option $1 (bench/run.sh cache-ab --help)" ;;
    *) if [[ -z $A ]]; then A=$1; elif [[ -z $B ]]; then B=$1; else R=$1; fi ;;  # the old A B [ROUNDS] too
  esac
  shift
done
[[ -n $A && -n $B ]] || die "cache-ab: two builds: bench/run.sh cache-ab BUILD_A --vs BUILD_B"
A=$(from_caller "$A") B=$(from_caller "$B")
[[ -n ${OUT:-} ]] && OUT=$(from_caller "$OUT")
bench_build "$A" uffd-bench mmapurl-shaper
bench_build "$B" uffd-bench
A=$(cd "$A" && pwd) B=$(cd "$B" && pwd)
results=${OUT:-bench/results/cache-ab-$(date +%Y%m%d-%H%M%S).txt}
mkdir -p "$(dirname "$results")"
exec > >(tee "$results")
work=${WORK:-/tmp/mmapurl-cache-ab}
size_mb=${SIZE_MB:-1024}
mkdir -p "$work"
source "$here/serve_random_object.sh"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
source "$here/warm_up.sh"
source "$here/start_s3like_shaper.sh" "$A"
summary='import json,sys
d=json.load(sys.stdin); l=d.get("latency_us",{})
print(d.get("seconds"), l.get("p50"), l.get("p99"), l.get("max"), d.get("verified"),
      d.get("connections"), d.get("requests"))'
for r in $(seq "$R"); do
  for profile in s3like none; do
    url=https://127.0.0.1:$shaper_port/obj
    [[ $profile == none ]] && url=https://127.0.0.1:$port/obj
    for build in "$A" "$B"; do
      for scenario in rand threads-rand; do
        rm -rf "$work/cache"
        mkdir -p "$work/cache"
        warm_up "$work/www/obj" >/dev/null 2>&1
        out=$(MMAPURL_CACHE_DIR=$work/cache MMAPURL_CACHE_PREFETCH=whole MMAPURL_CONNECTIONS=24 \
          "$build/tools/uffd-bench" "$url" --json --scenario "$scenario" --random-reads 2000 \
          --threads 8 --verify-file "$work/www/obj" 2>/dev/null)
        echo "$r $profile $build $scenario $(echo "$out" | python3 -c "$summary" 2>&1 | tail -1)"
      done
    done
  done
done
kill "$shaper_pid" "$nginx_pid"
wait "$shaper_pid" "$nginx_pid" 2>/dev/null
