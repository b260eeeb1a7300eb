#!/usr/bin/env bash
# bench/run.sh shaper [BUILD_DIR] [--runs N] [--size MB] [--out FILE] [--no-build]     env: SIZE_MB (1024), RUNS (5), OUT
#
# The S3-like shaper (20 ms RTT, 50 MB/s per connection) in both of its ways, side by side: the
# copying forwarder and --splice. Two shapers in front of one nginx object; every run scans the
# object with uffd-bench and downloads it with curl through each, alternated, and records what
# each shaper's process spent in CPU for it. JSON lines to bench/results/shaper-ab-DATE.jsonl
# (OUT), then a table. About 1 minute per run at 1 GiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib/common.sh
parse_suite_options shaper "$@"
bench_build "$build" uffd-bench mmapurl-shaper
bench_setup shaper-ab 5
source bench/lib/serve_random_object.sh
source bench/lib/warm_up.sh
declare -A shaper_port shaper_pid
for way in copy splice; do
  flags=(--rtt-ms 20 --conn-mbps 50 --handshake-rtt)
  [[ $way == splice ]] && flags+=(--splice)
  "$build/tools/mmapurl-shaper" --listen 127.0.0.1:0 --target "127.0.0.1:$port" "${flags[@]}" \
    > "$work/shaper-$way.out" 2>/dev/null &
  shaper_pid[$way]=$!
done
sleep 0.5
for way in copy splice; do
  shaper_port[$way]=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/shaper-$way.out")
  [[ -n ${shaper_port[$way]} ]] || { echo "mmapurl-shaper ($way) did not start" >&2; exit 1; }
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
record() {  # $1 way, $2 tool, $3 ticks before, rest: the JSON object's other fields
  local way=$1 tool=$2 before=$3 after
  shift 3
  after=$(cpu_ticks "${shaper_pid[$way]}")
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); d.update(tool=sys.argv[2], shaper=sys.argv[3], shaper_cpu_s=(int(sys.argv[5])-int(sys.argv[4]))/$(getconf CLK_TCK)); print(json.dumps(d))" \
    "$*" "$tool" "$way" "$before" "$after" >> "$out"
}
for ((r = 1; r <= runs; r++)); do
  echo "run $r/$runs" >&2
  order=(copy splice)
  ((r % 2 == 0)) && order=(splice copy)
  for way in "${order[@]}"; do
    u="https://127.0.0.1:${shaper_port[$way]}/obj"
    warm_up "$work/www/obj"
    t0=$(cpu_ticks "${shaper_pid[$way]}")
    line=$("$build/tools/uffd-bench" "$u" --json --scenario seq)
    record "$way" mmapurl "$t0" "$line"
    warm_up "$work/www/obj"
    t0=$(cpu_ticks "${shaper_pid[$way]}")
    t=$(curl -s --cacert "$work/cert.pem" -o /dev/null -w '%{time_total}' "$u")
    record "$way" curl "$t0" "{\"scenario\":\"seq\",\"seconds\":$t,\"mb_per_s\":$(python3 -c "print(round($size_mb*1.048576/$t,1))")}"
  done
done
python3 - "$out" "$size_mb" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gib = int(sys.argv[2]) / 1024
print("| tool | shaper | runs | MB/s (median) | shaper CPU s per GiB (median) |")
print("|---|---|---|---|---|")
for tool in ("mmapurl", "curl"):
    for way in ("copy", "splice"):
        sel = [r for r in rows if r["tool"] == tool and r["shaper"] == way]
        if not sel:
            continue
        mbs = statistics.median(r["mb_per_s"] for r in sel)
        cpu = statistics.median(r["shaper_cpu_s"] for r in sel) / gib
        print(f"| {tool} | {way} | {len(sel)} | {mbs:.1f} | {cpu:.2f} |")
PY
