#!/usr/bin/env bash
# bench/run.sh soak [BUILD_DIR] [--seconds N] [--no-build]
#
# The one-hour soak (issue 29, long-running services): mmapurl-soak's mixed workload against the
# embedded HTTPS server, then a chart of RSS, heap, descriptors and throughput over time
# (bench/soak/plot_soak.py). --seconds sets SECONDS_TOTAL.
# SECONDS_TOTAL (3600), INTERVAL (10), THREADS (8), ORIGINS (1: one server; N: N loopback
# addresses taking turns, servers closing connections idle KEEPALIVE_MS, default 5000), and
# SOAK_ARGS (more mmapurl-soak options) change the run. Writes bench/soak/results/soak-DATE.csv,
# .log and .png; the exit status is mmapurl-soak's (0: bytes right, growth within its bounds).
set -u
cd "$(dirname "$0")/../.."
source bench/lib/common.sh
build=build
while (($#)); do
  case $1 in
    --seconds) SECONDS_TOTAL=${2:?}; shift ;;
    --no-build) NO_BUILD=1 ;;
    -*) die "soak: unknown option $1 (bench/run.sh soak --help)" ;;
    *) build=$1 ;;
  esac
  shift
done
build=$(from_caller "$build")
bench_build "$build" mmapurl-soak
seconds=${SECONDS_TOTAL:-3600}
origins=${ORIGINS:-1}
stamp=$(date +%Y%m%d-%H%M%S)
out=bench/soak/results/soak-$stamp
mkdir -p bench/soak/results
args=(--soak "$seconds" --interval "${INTERVAL:-10}" --threads "${THREADS:-8}" --csv "$out.csv")
if [[ $origins -gt 1 ]]; then
  args+=(--origins "$origins" --server-keepalive-ms "${KEEPALIVE_MS:-5000}")
fi
# A bounded run: the tool stops itself at SECONDS_TOTAL; timeout only catches a hang.
timeout $((seconds + 300)) "$build/tools/mmapurl-soak" "${args[@]}" ${SOAK_ARGS:-} | tee "$out.log"
status=${PIPESTATUS[0]}
/usr/bin/python3 bench/soak/plot_soak.py "$out.csv" "$out.png" \
  --title "mmapurl-soak ${seconds} s, $origins origin(s), $(git rev-parse --short HEAD)" || true
echo "status $status; $out.log, $out.csv, $out.png"
exit "$status"
