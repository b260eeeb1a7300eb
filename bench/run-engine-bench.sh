#!/usr/bin/env bash
# Side-by-side engine benchmark: mmapurl (uffd-bench) against curl on the same nginx object,
# alternated, RUNS times each; unshaped and through the S3-like shaper (20 ms RTT, 50 MB/s per
# connection). Writes JSON lines to $OUT and prints a summary (bench/summarize.py).
# Then one scan of a MEM_SCAN_MB (5120) synthetic object with MMAPURL_MEMORY_LIMIT=256M (peak RSS,
# every byte verified by seed; 0 skips it).
#   bench/run-engine-bench.sh [BUILD_DIR]      env: SIZE_MB (1024), RUNS (3), MEM_SCAN_MB, OUT
# BASE_BUILD=DIR also runs every mmapurl row with DIR's uffd-bench right after this build's (tool
# name suffixed "@base"): a change measured against its parent in one run. ROWS=seq runs only the
# sequential rows of both profiles; ROWS=rand only the unshaped random 4 KiB rows (2000 reads,
# and 40000 as mmapurl-dense40k), curl's ranged GETs and fault-round-trip-bench (the floor: one
# ranged GET plus one fault round trip); ROWS=limits only the unshaped scans
# under the memory limits in LIMITS (default "16M 64M 256M", also part of the full run).
# ROWS=placement: uffd-bench's random 4 KiB rows and curl's ranged GETs under four placements of
# the client (uffd-bench's reader and engine thread, or curl) and nginx on this VM's vCPUs, as
# profiles placement-unpinned, -client-on-0 (nginx free), -split (nginx on vCPU 1), -all-on-0.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/bench_setup.sh "${1:-build}" engine 3 uffd-bench mmapurl-shaper fault-round-trip-bench
source bench/serve_random_object.sh
source bench/warm_up.sh
url="https://127.0.0.1:$port/obj"
source bench/start_s3like_shaper.sh "$build"
sport=$shaper_port
surl="https://127.0.0.1:$sport/obj"

pin=()  # a command prefix for the client (ROWS=placement: taskset)
curl_seq() {  # $1 profile, $2 url
  local t
  warm_up "$work/www/obj"
  t=$(curl -s --cacert "$work/cert.pem" -o /dev/null -w '%{time_total}' "$2")
  echo "{\"tool\":\"curl\",\"profile\":\"$1\",\"scenario\":\"seq\",\"seconds\":$t,\"mb_per_s\":$(python3 -c "print(round($size_mb*1.048576/$t,1))")}" >> "$out"
}
curl_ranged_gets() {  # $1 profile, $2 url, $3 count: keep-alive 4 KiB ranged GETs, one connection
  # The first GET (the handshake) is dropped.
  warm_up "$work/www/obj"
  python3 bench/ranged_gets_config.py "$2" "$3" "$size_mb" "$work/cert.pem" > "$work/ranged.cfg"
  "${pin[@]}" curl -K "$work/ranged.cfg" |
    python3 -c "import sys,json,statistics; v=sorted(float(x)*1e6 for x in sys.stdin.read().split()[1:]); print(json.dumps({'tool':'curl','profile':'$1','scenario':'ranged-get-4k','p50_us':statistics.median(v),'p99_us':v[int(0.99*(len(v)-1))]}))" >> "$out"
}
bench() {  # $1 profile, $2 url, rest: uffd-bench args; TOOL names the variant (mmapurl)
  local p=$1 u=$2 b tool; shift 2
  for b in "$build" ${BASE_BUILD:+"$BASE_BUILD"}; do
    warm_up "$work/www/obj"
    tool=${TOOL:-mmapurl}
    [[ $b == "$build" ]] || tool="$tool@base"
    "${pin[@]}" "$b/tools/uffd-bench" "$u" --json "$@" | sed "s/^{/{\"tool\":\"$tool\",\"profile\":\"$p\",/" >> "$out"
  done
}
fault_round_trips() {  # the floor's other half: one fault resolved by another thread, no network
  "$build/bench/fault-round-trip-bench" --json --faults 2000 |
    sed 's/^{"tool":"fault-round-trip","placement":"\([a-z-]*\)"/{"tool":"fault-round-trip-\1","profile":"none","scenario":"uffd-4k"/' >> "$out"
}
unshaped_random_rows() {  # $1: uffd-bench scenarios of the default row (rand first)
  curl_ranged_gets none "$url" 200
  fault_round_trips
  bench none "$url" --scenario "$1" --random-reads 2000
  TOOL=mmapurl-4k MMAPURL_RANDOM_FETCH=4K bench none "$url" --scenario rand --random-reads 2000
}
rows=${ROWS:-all}
for ((r = 1; r <= runs; r++)); do
  echo "run $r/$runs" >&2
  if [[ $rows == placement ]]; then
    # A random fault's path runs three threads in a chain (reader, engine, nginx), curl's GET
    # two; on this VM a wake-up of a halted vCPU costs tens of µs, so where the scheduler puts
    # them shows in the latency. taskset's mask is inherited by the engine thread uffd-bench starts.
    all_cpus=0-$(($(nproc) - 1))
    for placement in unpinned client-on-0 split all-on-0; do
      case $placement in
        unpinned) pin=(); nginx_cpus=$all_cpus ;;
        client-on-0) pin=(taskset -c 0); nginx_cpus=$all_cpus ;;
        split) pin=(taskset -c 0); nginx_cpus=1 ;;
        all-on-0) pin=(taskset -c 0); nginx_cpus=0 ;;
      esac
      taskset -pc "$nginx_cpus" "$nginx_pid" > /dev/null
      curl_ranged_gets "placement-$placement" "$url" 200
      bench "placement-$placement" "$url" --scenario rand --random-reads 2000
    done
    pin=()
    taskset -pc "$all_cpus" "$nginx_pid" > /dev/null
    continue
  fi
  if [[ $rows == rand ]]; then
    unshaped_random_rows rand
    # Dense random reads (40000 pages, 15% of 1 GiB): readahead must not ramp on chance hits.
    TOOL=mmapurl-dense40k bench none "$url" --scenario rand --random-reads 40000
    continue
  fi
  curl_seq none "$url"
  [[ $rows == limits ]] || bench none "$url" --scenario seq
  if [[ $rows == all || $rows == limits ]]; then
    # The same scan under small memory limits (tool mmapurl-limit-64M, ...).
    for lim in ${LIMITS:-16M 64M 256M}; do
      TOOL=mmapurl-limit-$lim MMAPURL_MEMORY_LIMIT=$lim bench none "$url" --scenario seq
    done
  fi
  [[ $rows == limits ]] && continue
  if [[ $rows != seq ]]; then
    unshaped_random_rows rand,rand64k,threads-rand
    bench none "$url" --scenario unmap
  fi
  curl_seq s3like "$surl"
  bench s3like "$surl" --scenario seq
  if [[ $rows != seq ]]; then
    curl_ranged_gets s3like "$surl" 30
    bench s3like "$surl" --scenario rand,threads-rand --random-reads 400 --threads 16
  fi
done
mem_mb=${MEM_SCAN_MB:-5120}
if ((mem_mb > 0)); then
  echo "memory-limit scan of $mem_mb MiB" >&2
  "$build/tools/uffd-bench" --write-synthetic "$work/www/synthetic" --size $((mem_mb << 20)) --seed 5
  MMAPURL_MEMORY_LIMIT=256M bench limit-256M "https://127.0.0.1:$port/synthetic" --scenario seq --seed 5
  rm -f "$work/www/synthetic"
fi
/usr/bin/python3 bench/summarize.py "$out"
