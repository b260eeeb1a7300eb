#!/usr/bin/env bash
# bench/run.sh peers [--size MB] [--runs N] [--profiles "none s3like"] [--contenders REGEX]
#                    [--timeout S] [--build-dir DIR] [--out FILE] [--no-install] [--list]
#
# Peer benchmark, one command: mmapurl side by side with what users would pick instead (curl
# download, s3fs, rclone mount, httpdirfs), all reading the same random object from the same
# nginx (HTTPS) and s3rver (S3 API), shaped by the same mmapurl-shaper. See bench/peers/README.md.
# As root (FUSE mounts; installs what it lacks with apt-get and npm unless --no-install). The full
# run (1 GiB, 3 runs, every contender, both profiles) takes about 2 hours; --list prints the
# contenders and exits.
# Options set, and the environment may set instead: SIZE_MB (1024), RUNS (3), RANDOM_READS (2000),
# THREADS (8), PROFILES ("none s3like"), CONTENDERS (regex over contender names, default all),
# TIMEOUT (s per measurement, 600), BUILD_DIR (build-peers, configured Release if new),
# OUT (bench/peers/results/peers-DATE.jsonl), NO_INSTALL=1, MARKDOWN (bench/peers/RESULTS.md) and
# CHART (bench/peers/chart.png): the table and chart bench/peers/summarize.py makes at the end,
# WARM_MEMORY_MB (bench/lib/warm_up.sh; default SIZE_MB + 512, 0: off).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
source bench/lib/common.sh
list_only=""
while (($#)); do
  case $1 in
    --size) SIZE_MB=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --profiles) PROFILES=${2:?}; shift ;;
    --contenders) CONTENDERS=${2:?}; shift ;;
    --timeout) TIMEOUT=${2:?}; shift ;;
    --build-dir) BUILD_DIR=${2:?}; shift ;;
    --out) OUT=${2:?}; shift ;;
    --no-install) NO_INSTALL=1 ;;
    --list) list_only=1 ;;
    *) die "peers: unknown argument $1 (bench/run.sh peers --help)" ;;
  esac
  shift
done
[[ -n ${BUILD_DIR:-} ]] && BUILD_DIR=$(from_caller "$BUILD_DIR")
[[ -n ${OUT:-} ]] && OUT=$(from_caller "$OUT")
size_mb=${SIZE_MB:-1024}
runs=${RUNS:-3}
random_reads=${RANDOM_READS:-2000}
threads=${THREADS:-8}
profiles=${PROFILES:-none s3like}
for p in $profiles; do [[ $p == none || $p == s3like ]] || die "peers: unknown profile $p"; done
only=${CONTENDERS:-.}
timeout_s=${TIMEOUT:-600}
build=${BUILD_DIR:-$repo/build-peers}
stamp=$(date +%Y%m%d-%H%M%S)
out=${OUT:-$repo/bench/peers/results/peers-$stamp.jsonl}
command_line="SIZE_MB=$size_mb RUNS=$runs RANDOM_READS=$random_reads THREADS=$threads TIMEOUT=$timeout_s PROFILES=\"$profiles\"${CONTENDERS:+ CONTENDERS=\"$only\"}${WARM_MEMORY_MB:+ WARM_MEMORY_MB=$WARM_MEMORY_MB} bench/run.sh peers"
# Contenders: name -> settings (what the table names) and how it runs.
contenders=(curl-https curl-s3 curl-https-x16 mmapurl-https mmapurl-s3 mmapurl-https-cache mmapurl-s3-cache s3fs
            s3fs-tuned rclone-off rclone-full rclone-full-tuned httpdirfs httpdirfs-cache)
declare -A settings=(
  [curl-https]="curl -o /dev/null https://nginx/obj (download first; defaults)"
  [curl-s3]="curl -o /dev/null http://s3rver/bench/obj (download first; defaults)"
  [curl-https-x16]="16 curls at once, each -r one 16th of https://nginx/obj -o /dev/null (download first on 16 connections)"
  [mmapurl-https]="uffd-bench https://nginx/obj (defaults: 16 connections, 128M max readahead)"
  [mmapurl-s3]="uffd-bench s3://bench/obj (defaults)"
  [mmapurl-https-cache]="uffd-bench https://nginx/obj + MMAPURL_CACHE_DIR=DIR MMAPURL_CACHE_PREFETCH=whole MMAPURL_CONNECTIONS=24"
  [mmapurl-s3-cache]="uffd-bench s3://bench/obj + MMAPURL_CACHE_DIR=DIR MMAPURL_CACHE_PREFETCH=whole MMAPURL_CONNECTIONS=24"
  [s3fs]="s3fs -o url=,use_path_request_style (defaults)"
  [s3fs-tuned]="s3fs + -o parallel_count=16,multipart_size=8,use_cache=DIR"
  [rclone-off]="rclone mount --vfs-cache-mode off (defaults)"
  [rclone-full]="rclone mount --vfs-cache-mode full"
  [rclone-full-tuned]="rclone mount --vfs-cache-mode full --vfs-read-chunk-size 4M --buffer-size 64M --vfs-read-ahead 128M"
  [httpdirfs]="httpdirfs --no-range-check --insecure-tls https://nginx/ (defaults, no cache)"
  [httpdirfs-cache]="httpdirfs ... --cache (its disk cache, 8 MB download segments)"
)
selected=()
for c in "${contenders[@]}"; do [[ $c =~ $only ]] && selected+=("$c"); done
if [[ -n $list_only ]]; then
  for c in "${contenders[@]}"; do printf '%-20s %s\n' "$c" "${settings[$c]}"; done
  exit 0
fi
((${#selected[@]})) || die "peers: no contender matches $only (bench/run.sh peers --list)"
need_s3=""  # s3rver only when a selected contender reads through the S3 API
for c in "${selected[@]}"; do
  case $c in curl-https* | mmapurl-https* | httpdirfs*) ;; *) need_s3=1 ;; esac
done
py=/usr/bin/python3
source bench/lib/warm_up.sh
log() { echo "[peer-bench $(date +%T)] $*" >&2; }

# --- 1. what the benchmark needs, from Debian and npm ----------------------------------------
if [[ -z "${NO_INSTALL:-}" ]]; then
  need=()
  for pair in s3fs:s3fs rclone:rclone httpdirfs:httpdirfs fusermount3:fuse3 curl:curl \
              nginx:nginx aws:awscli node:nodejs npm:npm g++:g++ cmake:cmake; do
    command -v "${pair%%:*}" >/dev/null || [[ -x /usr/sbin/${pair%%:*} ]] || need+=("${pair#*:}")
  done
  $py -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
  [[ -x /usr/bin/time ]] || need+=(time)
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  bash tests/fixtures/s3/install.sh
fi
# Always (incremental): a build left from an older checkout must not stand in for this one.
bench_build "$build" uffd-bench mmapurl-shaper
bench_bin=$build/tools/uffd-bench
shaper_bin=$build/tools/mmapurl-shaper

# --- 2. the object, nginx (HTTPS + HTTP) and s3rver -------------------------------------------
work=$(mktemp -d /var/tmp/mmapurl-peers-XXXXXX)
reader=$work/mmap-reader
cleanup() {
  set +e
  for m in "$work"/mnt*; do mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" || umount -l "$m"; }; done
  kill $(jobs -p) 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www" "$work/logs" "$work/s3data" "$(dirname "$out")"
g++ -std=c++20 -O2 -Wall -Wextra -pthread -I tools -o "$reader" bench/peers/mmap_reader.cpp
log "making a $size_mb MiB random object"
head -c $((size_mb << 20)) /dev/urandom > "$work/www/obj"
ref=$work/www/obj
size_bytes=$((size_mb << 20))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https_port=$(free_port)
http_port=$(free_port)
s3_port=$(free_port)
# ssl_protocols: Debian 12's nginx 1.22 offers at most TLS 1.2 unless told; nginx 1.23.4 and
# later offer TLS 1.3 by default, as do S3 and most servers. curl and mmapurl alike get TLS 1.3.
# worker_processes auto (one per CPU) is Debian's packaged default. Until 2026-12-05 this ran one
# worker, whose event loop kept a small GET waiting behind the whole-object download's writes: an
# 8 KiB GET through the shaper during a `-cache` scan took p90 88-111 ms there against 25-61 ms
# with auto (bench/run.sh loaded-latency; bench/RESULTS.md).
cat > "$work/nginx.conf" <<CONF
user root; worker_processes auto; daemon off; master_process on; error_log $work/logs/error.log; pid $work/logs/pid;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 1000000; autoindex on;
  client_body_temp_path $work/logs; proxy_temp_path $work/logs; fastcgi_temp_path $work/logs;
  uwsgi_temp_path $work/logs; scgi_temp_path $work/logs;
  server { listen 127.0.0.1:$https_port ssl; ssl_certificate $work/cert.pem;
           ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3; root $work/www; }
  server { listen 127.0.0.1:$http_port; root $work/www; } }
CONF
/usr/sbin/nginx -p "$work" -c "$work/nginx.conf" &
if [[ -n $need_s3 ]]; then
  NODE_OPTIONS= node tests/fixtures/s3/node_modules/s3rver/bin/s3rver.js --directory "$work/s3data" \
    --address 127.0.0.1 --port "$s3_port" --silent --configure-bucket bench > "$work/logs/s3rver.log" 2>&1 &
fi
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null \
  AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
# A CA bundle from the environment makes rclone's S3 client refuse plain-HTTP endpoints.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_CA_BUNDLE HTTPS_PROXY \
  https_proxy HTTP_PROXY http_proxy
for ((i = 0; i < 100; i++)); do
  { [[ -z $need_s3 ]] || curl -s -o /dev/null "http://127.0.0.1:$s3_port/"; } &&
    curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
  sleep 0.2
done
if [[ -n $need_s3 ]]; then
  log "uploading the object to s3rver"
  /usr/bin/aws --endpoint-url "http://127.0.0.1:$s3_port" s3 cp --only-show-errors "$ref" s3://bench/obj
fi
printf 'S3RVER:S3RVER\n' > "$work/s3fs.passwd"
chmod 600 "$work/s3fs.passwd"
: > "$work/rclone.conf"

# --- 3. one measurement: network -> contender -> counters -------------------------------------
# S3-like: every measurement gets its own mmapurl-shaper, so every contender sees the same network
# and its network bytes are the shaper's count of what it forwarded down; it forwards with
# splice(2), copying nothing in user space (bench/run.sh shaper: 0.4 CPU s less per GiB). Unshaped: contenders
# connect straight to the server. Any proxy in that path, even one forwarding with splice(2),
# took CPU from whoever it measured, and more from a client with more connections (bench/RESULTS.md).
# The bytes are then loopback's own counter, both directions and TCP/IP headers included, and the
# connections the kernel's count of TCP opens: nothing else may use loopback during a run.
lo_bytes() { cat /sys/class/net/lo/statistics/tx_bytes; }
tcp_opens() { awk '/^Tcp:/ && $6 ~ /^[0-9]+$/ {print $6}' /proc/net/snmp; }
start_network() {  # $1 profile, $2 target port; sets sport (the port contenders connect to)
  shaper_pid=""
  if [[ $1 == none ]]; then
    sport=$2
    lo_before=$(lo_bytes)
    opens_before=$(tcp_opens)
    return
  fi
  "$shaper_bin" --listen 127.0.0.1:0 --target "127.0.0.1:$2" --rtt-ms 20 --conn-mbps 50 \
    --handshake-rtt --splice > "$work/shaper.out" 2> "$work/shaper.err" &
  shaper_pid=$!
  sport=""
  for ((i = 0; i < 100; i++)); do
    sleep 0.05
    sport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/shaper.out")
    [[ -n $sport ]] && break
  done
}
stop_network() {  # sets net_bytes, net_conns
  if [[ -z $shaper_pid ]]; then
    net_bytes=$(($(lo_bytes) - lo_before))
    net_conns=$(($(tcp_opens) - opens_before))
    return
  fi
  kill -TERM "$shaper_pid" 2>/dev/null || true
  wait "$shaper_pid" 2>/dev/null || true
  net_bytes=$(sed -n 's/.*stopped: \([0-9]*\) connections, [0-9]* bytes up, \([0-9]*\) down.*/\2/p' "$work/shaper.err")
  net_conns=$(sed -n 's/.*stopped: \([0-9]*\) connections.*/\1/p' "$work/shaper.err")
  net_bytes=${net_bytes:-null}
  net_conns=${net_conns:-null}
}

# Mounts, runs the reader, reads the daemon's VmHWM, unmounts. $1 mount dir; rest: daemon argv.
# Sets result (reader JSON or empty), daemon_rss, fail.
fuse_run() {
  local mnt=$1 file=$2 scenario=$3
  shift 3
  fail=""
  result=""
  daemon_rss=null
  mkdir -p "$mnt"
  "$@" > "$work/logs/daemon.log" 2>&1 &
  local dpid=$! i
  for ((i = 0; i < 200; i++)); do
    mountpoint -q "$mnt" && [[ -s $mnt/$file ]] && break
    kill -0 "$dpid" 2>/dev/null || break
    sleep 0.1
  done
  if ! mountpoint -q "$mnt" || [[ ! -s $mnt/$file ]]; then
    fail="mount failed: $(tail -c 300 "$work/logs/daemon.log" | tr -d '"\\' | tr '\n\t' '  ')"
  else
    local rc=0
    result=$(timeout -k 10 "$timeout_s" "$reader" "$mnt/$file" --verify-file "$ref" \
      --scenario "$scenario" --random-reads "$random_reads" --threads "$threads") || rc=$?
    ((rc == 124 || rc == 137)) && fail="timeout after ${timeout_s}s"
    if [[ -z $result && -z $fail ]]; then  # 135: SIGBUS, the kernel's answer to a failed read
      fail="reader exit $rc; daemon $(kill -0 "$dpid" 2>/dev/null && echo alive || echo exited): $(tail -c 200 "$work/logs/daemon.log" | tr -d '"\\' | tr '\n\t' '  ')"
    fi
    daemon_rss=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/$dpid/status" 2>/dev/null || echo null)
    daemon_rss=${daemon_rss:-null}
  fi
  fusermount3 -u "$mnt" 2>/dev/null || fusermount -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$dpid" 2>/dev/null || true
  wait "$dpid" 2>/dev/null || true
}

target_port() { case $1 in curl-https* | mmapurl-https* | httpdirfs*) echo "$https_port" ;; *) echo "$s3_port" ;; esac; }

measure() {  # $1 contender, $2 profile, $3 scenario, $4 run
  local c=$1 profile=$2 scenario=$3 run=$4 mnt=$work/mnt-$1 cache=$work/cache-$1 rc=0
  local curl_rss=null
  # Untimed, for every contender alike (bench/lib/warm_up.sh): nginx's file and s3rver's copy in the
  # page cache, the guest's free memory backed by its host.
  warm_up $(find "$work/www" "$work/s3data" -type f)
  fail=""
  result=""
  daemon_rss=null
  rm -rf "$cache"
  mkdir -p "$cache"
  start_network "$profile" "$(target_port "$c")"
  if [[ -z $sport ]]; then
    fail="shaper did not start"
  else
    local https_url="https://127.0.0.1:$sport/obj" s3_endpoint="http://127.0.0.1:$sport"
    local rclone_env=(env RCLONE_CONFIG_PEER_TYPE=s3 RCLONE_CONFIG_PEER_PROVIDER=Other
      RCLONE_CONFIG_PEER_ENDPOINT="$s3_endpoint" RCLONE_CONFIG_PEER_ACCESS_KEY_ID=S3RVER
      RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY=S3RVER RCLONE_CONFIG_PEER_FORCE_PATH_STYLE=true
      rclone --config "$work/rclone.conf" mount peer:bench "$mnt" --read-only --cache-dir "$cache")
    local s3fs_cmd=(s3fs bench "$mnt" -f -o ro,url="$s3_endpoint",use_path_request_style
      -o passwd_file="$work/s3fs.passwd",endpoint=us-east-1)
    # httpdirfs 1.2.5 (Debian 12) rejects the IP-address certificate's host name even with
    # --cacert (curl error 60): --insecure-tls turns off only the host-name check. Its range
    # probe fails against nginx (off by one, fixed upstream after 1.2.5), and so does its
    # --single-file-mode: it mounts nginx's directory listing with --no-range-check instead;
    # the byte check below shows the ranges it reads are right.
    local httpdirfs_cmd=(httpdirfs -f --no-range-check --cacert "$work/cert.pem" --insecure-tls)
    case $c in
      curl-https-x16)
        # Download first as parallel download tools do: 16 connections (mmapurl's and
        # s3fs-tuned's count), each moving one 16th of the object to /dev/null. Over a far origin
        # one curl is bound by one connection's 50 MB/s; this is the download-first baseline a
        # user who knows that would pick.
        local part=$(((size_bytes + 15) / 16)) i from to t0 t1 got pids=()
        rm -f "$work"/x16.*
        t0=$(date +%s.%N)
        for ((i = 0; i < 16; i++)); do
          from=$((i * part))
          to=$((from + part - 1 < size_bytes - 1 ? from + part - 1 : size_bytes - 1))
          timeout -k 10 "$timeout_s" /usr/bin/time -f %M -o "$work/x16.$i.rss" curl -s \
            --cacert "$work/cert.pem" -r "$from-$to" -o /dev/null -w '%{size_download} %{http_code}\n' \
            "$https_url" > "$work/x16.$i.out" &
          pids+=($!)
        done
        for i in "${!pids[@]}"; do wait "${pids[$i]}" || rc=$?; done
        t1=$(date +%s.%N)
        got=$(cat "$work"/x16.*.out | awk '$2 != 206 {bad = 1} {s += $1} END {print bad ? -1 : s}')
        curl_rss=$(($(cat "$work"/x16.*.rss | awk '{s += $1} END {print s + 0}') * 1024))
        if ((rc != 0)) || [[ $got != "$size_bytes" ]]; then
          fail="curl x16: exit $rc, ${got:-0} of $size_bytes bytes (or not all 206)"
        else
          local secs
          secs=$($py -c "print(round($t1 - $t0, 6))")
          result="{\"scenario\":\"seq\",\"ok\":true,\"seconds\":$secs,\"mb_per_s\":$($py -c "print(round($size_bytes/1e6/$secs,1))"),\"bytes_touched\":$got,\"peak_rss_bytes\":$curl_rss}"
        fi
        ;;
      curl-*)
        local url=$https_url
        [[ $c == curl-s3 ]] && url="$s3_endpoint/bench/obj"
        local t
        t=$(timeout -k 10 "$timeout_s" /usr/bin/time -f %M -o "$work/time.out" \
          curl -s --cacert "$work/cert.pem" -o /dev/null -w '%{time_total} %{size_download} %{http_code}' "$url") || rc=$?
        curl_rss=$(($(tail -n1 "$work/time.out" 2>/dev/null || echo 0) * 1024))
        read -r secs got code <<< "$t"
        if ((rc != 0)) || [[ $code != 200 || $got != "$size_bytes" ]]; then
          fail="curl exit $rc, HTTP ${code:-none}, ${got:-0} of $size_bytes bytes"
        else
          result="{\"scenario\":\"seq\",\"ok\":true,\"seconds\":$secs,\"mb_per_s\":$($py -c "print(round($size_bytes/1e6/$secs,1))"),\"bytes_touched\":$got,\"peak_rss_bytes\":$curl_rss}"
        fi
        ;;
      mmapurl-*)
        local url=$https_url
        [[ $c == mmapurl-s3* ]] && url=s3://bench/obj
        # The tuned settings: the disk cache (in the same place as the FUSE peers' caches) with
        # the whole-object background download, and 16 connections for it beside 8 for faults.
        local tuned=()
        [[ $c == *-cache ]] && tuned=(MMAPURL_CACHE_DIR="$cache" MMAPURL_CACHE_PREFETCH=whole
          MMAPURL_CONNECTIONS=24)
        result=$(env "${tuned[@]}" SSL_CERT_FILE="$work/cert.pem" AWS_ENDPOINT_URL_S3="$s3_endpoint" \
          timeout -k 10 "$timeout_s" "$bench_bin" "$url" --json --verify-file "$ref" \
          --scenario "$scenario" --random-reads "$random_reads" --threads "$threads" 2> "$work/logs/bench.err") || rc=$?
        ((rc == 124 || rc == 137)) && fail="timeout after ${timeout_s}s"
        [[ -z $result && -z $fail ]] && fail="uffd-bench exit $rc: $(tail -c 300 "$work/logs/bench.err" | tr -d '"\\' | tr '\n' ' ')"
        ;;
      s3fs) fuse_run "$mnt" obj "$scenario" "${s3fs_cmd[@]}" ;;
      s3fs-tuned) fuse_run "$mnt" obj "$scenario" "${s3fs_cmd[@]}" \
          -o parallel_count=16,multipart_size=8,use_cache="$cache" ;;
      rclone-off) fuse_run "$mnt" obj "$scenario" "${rclone_env[@]}" --vfs-cache-mode off ;;
      rclone-full) fuse_run "$mnt" obj "$scenario" "${rclone_env[@]}" --vfs-cache-mode full ;;
      rclone-full-tuned) fuse_run "$mnt" obj "$scenario" "${rclone_env[@]}" --vfs-cache-mode full \
          --vfs-read-chunk-size 4M --buffer-size 64M --vfs-read-ahead 128M ;;
      httpdirfs) fuse_run "$mnt" obj "$scenario" "${httpdirfs_cmd[@]}" "https://127.0.0.1:$sport/" "$mnt" ;;
      httpdirfs-cache) fuse_run "$mnt" obj "$scenario" "${httpdirfs_cmd[@]}" --cache \
          --cache-location "$cache" "https://127.0.0.1:$sport/" "$mnt" ;;
    esac
  fi
  stop_network
  [[ -n $result ]] && ! $py -c 'import json,sys; json.loads(sys.argv[1])' "$result" 2>/dev/null && {
    fail="unparsable output: $(echo "$result" | head -c 200 | tr -d '"\\')"
    result=""
  }
  printf '{"contender":"%s","settings":"%s","profile":"%s","workload":"%s","run":%d,"size_bytes":%d,"net_bytes":%s,"net_connections":%s,"daemon_peak_rss_bytes":%s,"failure":"%s","result":%s}\n' \
    "$c" "${settings[$c]}" "$profile" "$scenario" "$run" "$size_bytes" "$net_bytes" "$net_conns" \
    "$daemon_rss" "$fail" "${result:-null}" >> "$out"
  log "$profile $scenario $c run $run: ${fail:-$(echo "$result" | $py -c 'import json,sys; r=json.load(sys.stdin); print(("ok " if r.get("ok") else "WRONG ")+str(r.get("seconds"))+" s")' 2>/dev/null)}"
}

# Curl verifies its bytes once per profile (untimed): the timed run writes to /dev/null.
verify_curl() {  # $1 contender, $2 profile
  local url="https://127.0.0.1:$https_port/obj" ok=false
  [[ $1 == curl-s3 ]] && url="http://127.0.0.1:$s3_port/bench/obj"
  if [[ $1 == curl-https-x16 ]]; then  # its 16 ranges, one after another, end to end
    local part=$(((size_bytes + 15) / 16)) i from to
    for ((i = 0; i < 16; i++)); do
      from=$((i * part))
      to=$((from + part - 1 < size_bytes - 1 ? from + part - 1 : size_bytes - 1))
      curl -s --cacert "$work/cert.pem" -r "$from-$to" "$url"
    done | cmp -s - "$ref" && ok=true
  else
    curl -s --cacert "$work/cert.pem" "$url" | cmp -s - "$ref" && ok=true
  fi
  printf '{"contender":"%s","profile":"%s","workload":"verify","verified":%s}\n' "$1" "$2" "$ok" >> "$out"
}

# --- 4. all runs, contenders alternated (the order rotates every run) -------------------------
printf '{"meta":true,"unshaped_path":"direct","shaper":"splice","verify":"page digests","nginx_protocols":"TLSv1.2 TLSv1.3","nginx_workers":"auto","warm_memory_mb":%d,"date":"%s","host":"%s","kernel":"%s","cpu":"%s","cpus":%d,"mem_mb":%d,"size_bytes":%d,"runs":%d,"random_reads":%d,"threads":%d,"command":"%s","versions":{"s3fs":"%s","rclone":"%s","httpdirfs":"%s","curl":"%s","nginx":"%s","s3rver":"%s"}}\n' \
  "$(warm_memory_mb)" "$(date -u +%FT%TZ)" "$(hostname)" "$(uname -r)" "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
  "$(nproc)" "$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)" "$size_bytes" "$runs" "$random_reads" \
  "$threads" "${command_line//\"/\\\"}" "$(s3fs --version 2>&1 | head -1 | awk '{print $7}')" \
  "$(rclone version 2>/dev/null | head -1 | awk '{print $2}')" "$(httpdirfs --version 2>&1 | sed -n 's/HTTPDirFS version //p' | head -1)" \
  "$(curl --version | head -1 | awk '{print $2}')" "$(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///')" \
  "$(node -p 'require("./tests/fixtures/s3/node_modules/s3rver/package.json").version' 2>/dev/null || echo none)" > "$out"
for profile in $profiles; do
  for c in "${selected[@]}"; do [[ $c == curl-* ]] && verify_curl "$c" "$profile"; done
done
n=${#selected[@]}
for ((r = 1; r <= runs; r++)); do
  for profile in $profiles; do
    for scenario in seq rand threads-rand; do
      for ((k = 0; k < n; k++)); do
        c=${selected[$(((k + r - 1) % n))]}
        [[ $c == curl-* && $scenario != seq ]] && continue  # curl's cost is the download
        measure "$c" "$profile" "$scenario" "$r"
      done
    done
  done
done
log "results: $out"
$py bench/peers/summarize.py "$out" --markdown "${MARKDOWN:-bench/peers/RESULTS.md}" \
  --chart "${CHART:-bench/peers/chart.png}"
