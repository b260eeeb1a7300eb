#!/usr/bin/env bash
# bench/run.sh loaded-latency [BUILD_DIR] [--runs N] [--size MB] [--out FILE] [--no-build]     env: SIZE_MB (1024), RUNS (3), OUT
#
# What a demand request meets while the whole-object download loads the server and the shaper, with
# nginx on one worker (the benchmarks' setting until 2026-12-05) and on Debian's default
# (`worker_processes auto`: one per CPU), alternated RUNS times:
# - during a `-cache` S3-like scan (uffd-bench, MMAPURL_CACHE_PREFETCH=whole, 24 connections),
#   bench/lib/loaded_latency_prober.py times keep-alive 8 KiB GETs through the shaper and straight to
#   nginx; only the GETs answered while the scan ran count;
# - then 2000 random 4 KiB reads with the same settings: p99 of the reads, and the times of the
#   reads that waited for the network (over 5 ms).
# JSON lines to bench/results/loaded-latency-DATE.jsonl (OUT), each also printed. BUILD_DIR
# defaults to build. About 2 minutes per run at 1 GiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib/common.sh
parse_suite_options loaded-latency "$@"
bench_build "$build" uffd-bench mmapurl-shaper
bench_setup loaded-latency 3
source bench/lib/serve_random_object.sh
source bench/lib/warm_up.sh
source bench/lib/start_s3like_shaper.sh "$build"
cp "$work/nginx.conf" "$work/nginx-1.conf"
sed 's/worker_processes 1; daemon off; master_process off;/user root; worker_processes auto; daemon off; master_process on;/' \
  "$work/nginx-1.conf" > "$work/nginx-auto.conf"
nginx_with() {  # $1: 1 or auto
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  /usr/sbin/nginx -p "$work" -c "$work/nginx-$1.conf" &
  nginx_pid=$!
  sleep 0.5
}
bench_env=(MMAPURL_CACHE_DIR="$work/cache" MMAPURL_CACHE_PREFETCH=whole MMAPURL_CONNECTIONS=24)
measure() {  # $1 workers, $2 run
  nginx_with "$1"
  rm -rf "$work/cache" && mkdir -p "$work/cache"
  warm_up "$work/www/obj"
  bench/lib/loaded_latency_prober.py 127.0.0.1 "$shaper_port" "$work/cert.pem" 7 0.01 "$work/shaped.txt" &
  local p1=$!
  bench/lib/loaded_latency_prober.py 127.0.0.1 "$port" "$work/cert.pem" 7 0.002 "$work/direct.txt" &
  local p2=$!
  sleep 1
  env "${bench_env[@]}" MMAPURL_LOG=info "$build/tools/uffd-bench" "https://127.0.0.1:$shaper_port/obj" \
    --scenario seq --json --verify-file "$work/www/obj" > "$work/seq.json" 2> "$work/seq.err"
  wait "$p1" "$p2"
  rm -rf "$work/cache" && mkdir -p "$work/cache" && rm -f "$work/lat.txt"
  warm_up "$work/www/obj"
  env "${bench_env[@]}" "$build/tools/uffd-bench" "https://127.0.0.1:$shaper_port/obj" --scenario rand \
    --json --verify-file "$work/www/obj" --latencies-file "$work/lat.txt" > "$work/rand.json"
  python3 - "$1" "$2" "$work" >> "$out" <<'PY'
import json, re, sys
workers, run, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seq = json.load(open(work + "/seq.json"))
rand = json.load(open(work + "/rand.json"))
t0 = float(re.search(r"mmapurl (\d+\.\d+) info: mapped", open(work + "/seq.err").read()).group(1))
t1 = t0 + seq["seconds"]
def pct(v, ps):
    v = sorted(v)
    return {"n": len(v), **{"p%d" % p: round(v[min(len(v) - 1, int(p / 100 * len(v)))], 2) for p in ps}} if v else {"n": 0}
def window(name):
    rows = [l.split() for l in open(work + "/" + name)]
    return pct([float(ms) for t, ms in rows if t0 <= float(t) <= t1], (50, 90, 100))
reads = [float(l.split()[1]) / 1000 for l in open(work + "/lat.txt")]
print(json.dumps({"nginx_workers": workers, "run": run, "scan_ok": seq["ok"], "scan_mb_per_s": seq["mb_per_s"],
  "get_ms_shaped_during_scan": window("shaped.txt"), "get_ms_direct_during_scan": window("direct.txt"),
  "rand_ok": rand["ok"], "rand_seconds": rand["seconds"], "rand_read_p99_ms": round(rand["latency_us"]["p99"] / 1000, 2),
  "rand_network_reads_ms": pct([r for r in reads if r > 5], (10, 50, 64, 90))}))
PY
  tail -1 "$out"
}
for ((r = 1; r <= runs; r++)); do
  if ((r % 2)); then order="1 auto"; else order="auto 1"; fi
  for w in $order; do measure "$w" "$r"; done
done
echo "results: $out"
