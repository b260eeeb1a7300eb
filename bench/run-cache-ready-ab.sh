#!/usr/bin/env bash
# A/B of two builds on the disk cache's random reads, the builds alternated in each round:
# a 1 GiB object behind one nginx, S3-like (mmapurl-shaper: 20 ms round trip, 50 MB/s per
# connection) and unshaped; uffd-bench with the -cache settings of the peer bench
# (MMAPURL_CACHE_PREFETCH=whole, MMAPURL_CONNECTIONS=24), 2000 random pages, 1 and 8 threads.
#   bench/run-cache-ready-ab.sh BUILD_A BUILD_B [ROUNDS]
# One line per run: round profile build scenario seconds p50_us p99_us max_us verified
# connections requests.
set -u
here=$(cd "$(dirname "$0")" && pwd)
A=$1 B=$2 R=${3:-3}
work=${WORK:-/tmp/mmapurl-cache-ab}
size_mb=1024
mkdir -p "$work"
source "$here/serve_random_object.sh"
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
wait 2>/dev/null
