#!/usr/bin/env bash
# bench/run.sh engine [BUILD_DIR] [--vs OTHER] [--rows ROWS] [--size MB] [--runs N]
#                     [--scenarios LIST] [--profiles LIST] [--out FILE] [--no-build]
#
# The engine benchmark: uffd-bench (mmapurl) against curl on one nginx object (random bytes, HTTPS,
# TLS 1.3, one worker) on loopback, unshaped and through the S3-like shaper (mmapurl-shaper: 20 ms
# round trip, 50 MB/s per connection, handshakes shaped too). Contenders alternate; every
# measurement starts from the same memory state (bench/lib/warm_up.sh). JSON lines go to
# bench/results/engine-DATE.jsonl (--out), then a table (bench/lib/summarize_engine.py, which can
# be rerun on any results file).
#
# BUILD_DIR (default: build) is configured Release if new, and its uffd-bench, mmapurl-shaper (and
# for the random rows fault-round-trip-bench) are brought up to date unless --no-build.
#
# Two builds side by side: --vs OTHER runs every mmapurl row with both uffd-bench binaries, "a"
# (BUILD_DIR) and "b" (OTHER: a build directory, a directory holding uffd-bench, or the binary),
# one right after the other, the order swapped every round (a b, b a, a b, ...: on this VM the
# one that runs second tends to win), both through the same nginx and BUILD_DIR's shaper. The
# summary then adds a table of per-round a/b ratios, their median, the pairs each won, a sign
# test, and the order effect. OTHER is built too when it is a build directory (not with
# --no-build). A run of a build against itself (--vs BUILD_DIR) shows the noise.
#
# --rows (env ROWS):
#   ab (the default with --vs)  mmapurl only, no curl: --profiles (default "none s3like") ×
#                               --scenarios (default "seq,rand"), one uffd-bench process per
#                               scenario, every byte verified against the served file; random
#                               reads: 2000 unshaped, 400 S3-like
#   all (the default without)   everything below plus rand64k, threads-rand, unmap, the S3-like
#                               random rows (16 threads) and one scan of a MEM_SCAN_MB (5120)
#                               synthetic object at MMAPURL_MEMORY_LIMIT=256M (peak RSS; 0 skips)
#   seq                         curl and mmapurl sequential, both profiles
#   rand                        unshaped random 4 KiB: 2000 reads (8 KiB and MMAPURL_RANDOM_FETCH=4K
#                               fetches), 40000 (mmapurl-dense40k), curl's ranged GETs and
#                               fault-round-trip-bench (the floor: one GET plus one fault round trip)
#   limits                      unshaped scans under the memory limits in LIMITS ("16M 64M 256M")
#   placement                   random rows and curl's GETs with the client and nginx pinned four
#                               ways (taskset): placement-unpinned, -client-on-0, -split, -all-on-0
#   memory                      only the MEM_SCAN_MB (5120) scan at MMAPURL_MEMORY_LIMIT=256M,
#                               once per round
# MEM_SCAN_MB set explicitly adds that scan (after the rounds) to any rows.
#
# --size MB (SIZE_MB, 1024), --runs N (RUNS; 3, or 6 with --vs: an even count balances the
# order), --rows (ROWS), --vs (BASE_BUILD), MEM_SCAN_MB (5120; rows all), LIMITS, OUT,
# WARM_MEMORY_MB (bench/lib/warm_up.sh).
# The A/B for a change (about 6 minutes at the defaults):
#   bench/run.sh engine build --vs /path/to/build-before
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib/common.sh

command="bench/run.sh engine $*"
build=build
vs=${BASE_BUILD:-}
rows=${ROWS:-}
scenarios=seq,rand
profiles="none s3like"
build_set=""
while (($#)); do
  case $1 in
    --vs) vs=${2:?--vs needs a directory}; shift ;;
    --vs=*) vs=${1#--vs=} ;;
    --rows) rows=${2:?}; shift ;;
    --size) SIZE_MB=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --scenarios) scenarios=${2:?}; shift ;;
    --profiles) profiles=${2:?}; shift ;;
    --out) OUT=${2:?}; shift ;;
    --no-build) NO_BUILD=1 ;;
    -*) die "engine: unknown option $1 (bench/run.sh engine --help)" ;;
    *) [[ -z $build_set ]] || die "engine: one BUILD_DIR only (got $build and $1)"
       build=$1; build_set=1 ;;
  esac
  shift
done
build=$(from_caller "$build")
[[ -n $vs ]] && vs=$(from_caller "$vs")
[[ -n ${OUT:-} ]] && OUT=$(from_caller "$OUT")
rows=${rows:-$([[ -n $vs ]] && echo ab || echo all)}
case $rows in all | seq | rand | limits | placement | ab | memory) ;; *) die "engine: unknown --rows $rows" ;; esac
[[ $rows == ab && -z $vs ]] && die "engine: --rows ab compares two builds: give --vs OTHER"
for p in $profiles; do [[ $p == none || $p == s3like ]] || die "engine: unknown profile $p"; done
[[ $scenarios =~ ^[a-z0-9,-]+$ ]] || die "engine: bad --scenarios $scenarios"

targets=(uffd-bench mmapurl-shaper)
[[ $rows == all || $rows == rand ]] && targets+=(fault-round-trip-bench)
bench_build "$build" "${targets[@]}"
bin_a=$(uffd_bench_of "$build") || die "no uffd-bench in $build"
bin_b=""
if [[ -n $vs ]]; then
  [[ -f $vs/CMakeCache.txt ]] && bench_build "$vs" uffd-bench
  bin_b=$(uffd_bench_of "$vs") || die "no uffd-bench in $vs (a build directory, a directory holding uffd-bench, or the binary)"
fi
bench_setup engine "$([[ -n $vs ]] && echo 6 || echo 3)"
((runs > 0)) || die "engine: --runs must be at least 1"
[[ -n $vs ]] && ((runs % 2)) && echo "bench: $runs rounds: each build runs first in $(((runs + 1) / 2)) and second in $((runs / 2)); an even count balances the order" >&2

# The run's own record first: what was compared, on what, with which command.
python3 - "$out" "$rows" "$size_mb" "$runs" "$scenarios" "$profiles" "$(describe_build "$build")" \
  "$([[ -n $vs ]] && describe_build "$vs" || echo null)" "$command" <<'PY'
import json, os, platform, sys, time
out, rows, size_mb, runs, scenarios, profiles, a, b, command = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
meta = {"meta": True, "suite": "engine", "rows": rows, "size_mb": int(size_mb), "runs": int(runs),
        "scenarios": scenarios if rows == "ab" else None, "profiles": profiles,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kernel": platform.release(),
        "cpu": cpu, "cpus": os.cpu_count(), "loadavg": open("/proc/loadavg").read().split()[:3],
        "a": json.loads(a), "b": json.loads(b), "command": command}
with open(out, "w") as f:
    f.write(json.dumps(meta) + "\n")
PY
[[ -n $vs ]] && python3 - "$out" <<'PY' >&2
import json, sys
m = json.loads(open(sys.argv[1]).readline())
for k in "ab":
    print(f"bench: {k} = {m[k]['binary']} (commit {m[k]['commit']}, {m[k]['build_type']})")
if "unknown" not in (m["a"]["build_type"], m["b"]["build_type"]) and m["a"]["build_type"] != m["b"]["build_type"]:
    print(f"bench: WARNING: the builds differ in type ({m['a']['build_type']} against {m['b']['build_type']}): the comparison measures that too")
PY

source bench/lib/serve_random_object.sh
source bench/lib/warm_up.sh
url="https://127.0.0.1:$port/obj"
source bench/lib/start_s3like_shaper.sh "$build"
surl="https://127.0.0.1:$shaper_port/obj"

round=0
pin=()  # a command prefix for the client (ROWS=placement: taskset)
curl_seq() {  # $1 profile, $2 url
  local t
  warm_up "$work/www/obj"
  t=$(curl -s --cacert "$work/cert.pem" -o /dev/null -w '%{time_total}' "$2")
  echo "{\"tool\":\"curl\",\"profile\":\"$1\",\"scenario\":\"seq\",\"round\":$round,\"seconds\":$t,\"mb_per_s\":$(python3 -c "print(round($size_mb*1.048576/$t,1))")}" >> "$out"
}
curl_ranged_gets() {  # $1 profile, $2 url, $3 count: keep-alive 4 KiB ranged GETs, one connection
  # The first GET (the handshake) is dropped.
  warm_up "$work/www/obj"
  python3 bench/lib/ranged_gets_config.py "$2" "$3" "$size_mb" "$work/cert.pem" > "$work/ranged.cfg"
  "${pin[@]}" curl -K "$work/ranged.cfg" |
    python3 -c "import sys,json,statistics; v=sorted(float(x)*1e6 for x in sys.stdin.read().split()[1:]); print(json.dumps({'tool':'curl','profile':'$1','scenario':'ranged-get-4k','round':$round,'p50_us':statistics.median(v),'p99_us':v[int(0.99*(len(v)-1))]}))" >> "$out"
}
# One uffd-bench process per build, a then b in odd rounds, b then a in even ones. Every line gets
# tool (TOOL, default mmapurl), profile, build (a or b), round, position (1: ran first) and the
# load average at its start. A run that prints nothing (it could not map, it crashed) is recorded
# as a failed line; the summary lists failures and exits 1.
bench() {  # $1 profile, $2 url, rest: uffd-bench args
  local p=$1 u=$2 k bin pos=0 order=(a) lines rc fields
  shift 2
  if [[ -n $bin_b ]]; then
    order=(a b)
    ((round % 2 == 0)) && order=(b a)
  fi
  for k in "${order[@]}"; do
    pos=$((pos + 1))
    bin=$bin_a
    [[ $k == b ]] && bin=$bin_b
    warm_up "$work/www/obj"
    fields="\"tool\":\"${TOOL:-mmapurl}\",\"profile\":\"$p\",\"build\":\"$k\",\"round\":$round,\"position\":$pos,\"load1\":$(cut -d' ' -f1 /proc/loadavg)"
    rc=0
    lines=$("${pin[@]}" "$bin" "$u" --json "$@" 2> "$work/uffd-bench.err") || rc=$?
    if [[ -z $lines ]]; then
      echo "bench: $bin exited $rc with no result: $(tail -c 300 "$work/uffd-bench.err")" >&2
      lines="{\"scenario\":\"$(sed -n 's/.*--scenario \([^ ]*\).*/\1/p' <<< "$*")\",\"ok\":false,\"error\":\"exit $rc, no result\"}"
    fi
    sed "s/^{/{$fields,/" <<< "$lines" >> "$out"
  done
}
fault_round_trips() {  # the floor's other half: one fault resolved by another thread, no network
  "$build/bench/fault-round-trip-bench" --json --faults 2000 |
    sed "s/^{\"tool\":\"fault-round-trip\",\"placement\":\"\([a-z-]*\)\"/{\"tool\":\"fault-round-trip-\1\",\"profile\":\"none\",\"scenario\":\"uffd-4k\",\"round\":$round/" >> "$out"
}
unshaped_random_rows() {  # $1: uffd-bench scenarios of the default row (rand first)
  curl_ranged_gets none "$url" 200
  fault_round_trips
  bench none "$url" --scenario "$1" --random-reads 2000
  TOOL=mmapurl-4k MMAPURL_RANDOM_FETCH=4K bench none "$url" --scenario rand --random-reads 2000
}
ab_rows() {  # both builds, every profile and scenario, bytes verified
  local p u s reads
  for p in $profiles; do
    u=$url reads=2000
    [[ $p == s3like ]] && u=$surl reads=400
    for s in ${scenarios//,/ }; do
      echo "  $p $s" >&2
      bench "$p" "$u" --scenario "$s" --random-reads "$reads" --verify-file "$work/www/obj"
    done
  done
}
memory_scan() {  # MEM_SCAN_MB of synthetic content, every byte verified by seed, at a 256M limit
  local mb=${MEM_SCAN_MB:-5120}
  echo "bench: memory-limit scan of $mb MiB" >&2
  [[ -f $work/www/synthetic ]] || "$bin_a" --write-synthetic "$work/www/synthetic" --size $((mb << 20)) --seed 5
  MMAPURL_MEMORY_LIMIT=256M bench limit-256M "https://127.0.0.1:$port/synthetic" --scenario seq --seed 5
}
for ((round = 1; round <= runs; round++)); do
  echo "bench: round $round/$runs" >&2
  case $rows in
    ab) ab_rows; continue ;;
    memory) memory_scan; continue ;;
    placement)
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
      continue ;;
    rand)
      unshaped_random_rows rand
      # Dense random reads (40000 pages, 15% of 1 GiB): readahead must not ramp on chance hits.
      TOOL=mmapurl-dense40k bench none "$url" --scenario rand --random-reads 40000
      continue ;;
  esac
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
if [[ $rows == all && -z ${MEM_SCAN_MB:-} ]] || ((${MEM_SCAN_MB:-0} > 0)); then
  [[ $rows == memory ]] || { round=1; memory_scan; }
fi
echo "bench: results in $out" >&2
/usr/bin/python3 bench/lib/summarize_engine.py "$out"
