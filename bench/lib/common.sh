# Sourced by every suite script under bench/lib/, from the repository's root. Defines functions
# only; nothing runs on sourcing.
#
#   bench_build DIR TARGET...   configure DIR (Release) if it has no CMakeCache.txt, then bring the
#                               targets up to date (a binary left from an older checkout must not
#                               stand in for this one); NO_BUILD=1 skips both and only checks
#                               that the binaries exist
#   bench_setup NAME DEFAULT_RUNS
#                               sets size_mb (SIZE_MB, 1024), runs (RUNS, DEFAULT_RUNS), out (OUT,
#                               bench/results/NAME-DATE.jsonl) and work (a scratch directory removed
#                               at exit, with every background job killed)
#   uffd_bench_of DIR           the uffd-bench binary of DIR: DIR/tools/uffd-bench (a build
#                               directory), DIR/uffd-bench (a directory holding the binary) or DIR
#                               itself (the binary)
#   describe_build DIR          a JSON object: dir, binary, commit, build type, where known (a build
#                               directory's source tree via git, or a COMMIT file beside the binary)
#   from_caller PATH            PATH as the caller of bench/run.sh meant it (relative to BENCH_CWD,
#                               the directory bench/run.sh was started in); suites run from the
#                               repository's root
#   die MESSAGE                 prints "bench: MESSAGE" on stderr and exits 2

die() {
  echo "bench: $*" >&2
  exit 2
}

from_caller() {
  if [[ $1 == /* || -z ${BENCH_CWD:-} ]]; then echo "$1"; else echo "$BENCH_CWD/$1"; fi
}

bench_build() {
  local dir=$1 t
  shift
  if [[ -n ${NO_BUILD:-} ]]; then
    for t in "$@"; do
      [[ -x $dir/tools/$t || -x $dir/bench/$t ]] || die "NO_BUILD set and $dir has no $t"
    done
    return 0
  fi
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    echo "bench: configuring $dir (Release)" >&2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release > /dev/null || die "cmake -S . -B $dir failed"
  fi
  echo "bench: building $* in $dir" >&2
  nice cmake --build "$dir" -j2 --target "$@" > "${TMPDIR:-/tmp}/mmapurl-bench-build.log" 2>&1 ||
    die "building $* in $dir failed (log: ${TMPDIR:-/tmp}/mmapurl-bench-build.log)"
}

bench_setup() {
  size_mb=${SIZE_MB:-1024}
  runs=${RUNS:-$2}
  out=${OUT:-bench/results/$1-$(date +%Y%m%d-%H%M%S).jsonl}
  mkdir -p "$(dirname "$out")"
  work=$(mktemp -d "/tmp/mmapurl-$1-XXXXXX")
  trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
  trap 'exit 143' TERM INT
}

uffd_bench_of() {
  if [[ -x $1/tools/uffd-bench ]]; then
    echo "$1/tools/uffd-bench"
  elif [[ -f $1/uffd-bench && -x $1/uffd-bench ]]; then
    echo "$1/uffd-bench"
  elif [[ -f $1 && -x $1 ]]; then
    echo "$1"
  else
    return 1
  fi
}

describe_build() {
  local dir=$1 bin commit="" type="" src=""
  bin=$(uffd_bench_of "$dir") || bin=""
  if [[ -f $dir/CMakeCache.txt ]]; then
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$dir/CMakeCache.txt")
    type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$dir/CMakeCache.txt")
    [[ -n $src ]] && commit=$(git -C "$src" describe --always --dirty --abbrev=12 2>/dev/null || true)
    # No type given at configure time: the project's CMakeLists.txt sets its default.
    [[ -z $type && -f $src/CMakeLists.txt ]] &&
      type=$(sed -n 's/^ *set(CMAKE_BUILD_TYPE \([A-Za-z]*\)).*/\1/p' "$src/CMakeLists.txt" | head -1)
  fi
  local d
  d=$([[ -d $dir ]] && echo "$dir" || dirname "$dir")
  [[ -z $commit && -f $d/COMMIT ]] && commit=$(head -c 12 "$d/COMMIT")
  python3 -c 'import json,sys; print(json.dumps(dict(zip(("dir","binary","source","commit","build_type"), sys.argv[1:]))))' \
    "$dir" "$bin" "$src" "${commit:-unknown}" "${type:-unknown}"
}

# The options of the suites that take only these: --runs, --size, --out, --no-build and a build
# directory. Sets build, RUNS, SIZE_MB, OUT and NO_BUILD; `suite` names the suite in errors.
parse_suite_options() {
  local suite=$1
  shift
  build=build
  while (($#)); do
    case $1 in
      --runs) RUNS=${2:?}; shift ;;
      --size) SIZE_MB=${2:?}; shift ;;
      --out) OUT=${2:?}; shift ;;
      --no-build) NO_BUILD=1 ;;
      -*) die "$suite: unknown option $1 (bench/run.sh $suite --help)" ;;
      *) build=$1 ;;
    esac
    shift
  done
  build=$(from_caller "$build")
  if [[ -n ${OUT:-} ]]; then OUT=$(from_caller "$OUT"); fi
  return 0
}
