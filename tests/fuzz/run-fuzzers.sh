#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ (no CMake), replays each one's crash
# reproducers (tests/fuzz/crashes/<target>/, once each, with FUZZ_STRICT=1: every finding there
# is fixed and must stay fixed), then runs each for FUZZ_SECONDS on a scratch copy of its
# committed corpus. Exits non-zero if any target failed to build, failed on a reproducer, or
# crashed while fuzzing.
#
# Usage: tests/fuzz/run-fuzzers.sh [BUILD_DIR] [TARGET...]
#   BUILD_DIR defaults to /tmp/mmapurl-fuzz; TARGETs default to all of them.
#   FUZZ_SECONDS (default 20) per target; FUZZ_BUILD_ONLY=1 only compiles.
set -u

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-/tmp/mmapurl-fuzz}"
shift || true
seconds="${FUZZ_SECONDS:-20}"
CXX="${CXX:-clang++}"
mkdir -p "$build"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I "$repo/engine" -I "$repo/include" -I "$repo/tests/fuzz")

s3="engine/source/s3"
url="engine/source/url/http_url.cpp"
declare -A sources=(
  [fuzz_http_url]="$url"
  [fuzz_content_range]="engine/source/http/content_range.cpp engine/source/object_source.cpp engine/net/http_types.cpp"
  [fuzz_s3_url]="$s3/addressing/s3_url.cpp $s3/addressing/s3_endpoint.cpp $s3/signing/uri_encoding.cpp $url"
  [fuzz_aws_responses]="$s3/aws_xml.cpp $s3/credentials/provider_protocol.cpp $s3/credentials/json_reader.cpp $s3/credentials/iso8601_time.cpp $s3/signing/uri_encoding.cpp $url $s3/config/aws_config_files.cpp $s3/config/aws_environment.cpp"
  [fuzz_http_response_head]="engine/source/http/content_range.cpp engine/source/object_source.cpp engine/net/http_types.cpp"
  [fuzz_tls_records]="engine/net/tls_record_reader.cpp"
)
declare -A libs=([fuzz_aws_responses]="-lcrypto" [fuzz_http_response_head]="-pthread"
                 [fuzz_tls_records]="-lssl -lcrypto")
all_targets=(fuzz_http_url fuzz_content_range fuzz_s3_url fuzz_aws_responses fuzz_http_response_head
             fuzz_tls_records)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

failed=()
for t in "${targets[@]}"; do
  if [ -z "${sources[$t]+x}" ]; then
    echo "unknown target: $t (known: ${all_targets[*]})" >&2
    failed+=("$t(unknown)")
    continue
  fi
  echo "== building $t"
  srcs=("$repo/tests/fuzz/$t.cpp")
  for s in ${sources[$t]}; do srcs+=("$repo/$s"); done
  # shellcheck disable=SC2086
  if ! "$CXX" "${flags[@]}" "${srcs[@]}" -o "$build/$t" ${libs[$t]:-}; then
    echo "!! $t: build failed" >&2
    failed+=("$t(build)")
    continue
  fi
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && { [ ${#failed[@]} -eq 0 ]; exit $?; }

# Known findings first: each reproducer, run once (libFuzzer runs file arguments and exits),
# must pass every property, the strict ones included.
for t in "${targets[@]}"; do
  [ -x "$build/$t" ] || continue
  case " ${failed[*]:-} " in *" $t("*) continue ;; esac
  crashes=()
  if [ -d "$repo/tests/fuzz/crashes/$t" ]; then
    while IFS= read -r -d '' f; do crashes+=("$f"); done \
      < <(find "$repo/tests/fuzz/crashes/$t" -type f -print0 | sort -z)
  fi
  if [ ${#crashes[@]} -eq 0 ]; then
    echo "== $t: no crash reproducers"
    continue
  fi
  echo "== replaying ${#crashes[@]} crash reproducer(s) of $t (log: $build/$t.replay.log)"
  FUZZ_STRICT=1 "$build/$t" -rss_limit_mb=2048 -timeout=10 "${crashes[@]}" \
      >"$build/$t.replay.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "!! $t fails on a known reproducer (exit $rc):" >&2
    grep -m5 -E 'Running: |ERROR: |FUZZ_CHECK failed|runtime error' "$build/$t.replay.log" >&2
    failed+=("$t(reproducer)")
  fi
done

for t in "${targets[@]}"; do
  [ -x "$build/$t" ] || continue
  case " ${failed[*]:-} " in *" $t("*) continue ;; esac
  scratch="$build/work/$t"
  artifacts="$build/artifacts/$t"
  rm -rf "$scratch"
  mkdir -p "$scratch" "$artifacts"
  # The committed corpus is only read: new inputs go to the scratch copy.
  cp -r "$repo/tests/fuzz/corpus/$t/." "$scratch/"
  echo "== running $t for ${seconds}s (log: $build/$t.log)"
  "$build/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$scratch" >"$build/$t.log" 2>&1
  rc=$?
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$build/$t.log" | tail -2
  if [ $rc -ne 0 ]; then
    echo "!! $t crashed (exit $rc); reproducer(s):" >&2
    ls "$artifacts" >&2
    grep -m5 -E 'ERROR: |FUZZ_CHECK failed|runtime error' "$build/$t.log" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all fuzz targets ran clean"
