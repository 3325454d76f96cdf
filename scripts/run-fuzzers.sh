#!/usr/bin/env bash
# Builds the libFuzzer targets of the core (tests/fuzz) with clang, ASan and UBSan,
# replays the committed corpus, freshly generated seeds and saved regression inputs,
# then fuzzes each target for a while. Exits non-zero on any crash, sanitizer report,
# failed invariant, leak or timeout, naming the input that caused it.
#
#   scripts/run-fuzzers.sh [SECONDS_PER_TARGET]   fuzz each target (default 30 s)
#   scripts/run-fuzzers.sh 0                      build and replay only
#   scripts/run-fuzzers.sh --update-seeds         regenerate tests/fuzz/corpus and exit
#
# Environment:
#   NTSD_FUZZ_BUILD_DIR  build directory (default: build-fuzz at the top of the repo);
#                        the scratch corpora, logs and crash inputs live under it
#   NTSD_FUZZ_TARGETS    space-separated subset of targets (default: all)
#   NTSD_FUZZ_JOBS       build parallelism (default: nproc)
#
# A crash input lands in BUILD_DIR/artifacts/<target>/. Reproduce it with
#   BUILD_DIR/bin/fuzz_<target> FILE
# and keep it as a regression test in tests/fuzz/regressions/<target>/.
set -euo pipefail

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}

seconds=30
update_seeds=0
for arg in "$@"; do
  case "$arg" in
    --update-seeds) update_seeds=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      if [[ "$arg" =~ ^[0-9]+$ ]]; then
        seconds=$arg
      else
        echo "run-fuzzers: unknown argument: $arg" >&2
        usage >&2
        exit 2
      fi
      ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${NTSD_FUZZ_BUILD_DIR:-$root/build-fuzz}
fuzz_src=$root/tests/fuzz
jobs=${NTSD_FUZZ_JOBS:-$(nproc)}

# Target name and the largest input worth trying: an NTS-KE message as the server
# buffers it (16 KiB), an NTP packet past the server's 2048-byte limit, a cookie.
declare -A max_len=(
  [ke_message]=16384
  [ke_response_client]=16384
  [ntp_packet]=4096
  [ntp_server_decision]=4096
  [cookie]=512
  [nts_response_client]=4096
)
all_targets=(ke_message ke_response_client ntp_packet ntp_server_decision cookie nts_response_client)
read -r -a targets <<<"${NTSD_FUZZ_TARGETS:-${all_targets[*]}}"
for t in "${targets[@]}"; do
  if [[ -z "${max_len[$t]:-}" ]]; then
    echo "run-fuzzers: unknown target '$t' (known: ${all_targets[*]})" >&2
    exit 2
  fi
done

for tool in clang++ cmake; do
  if ! command -v "$tool" >/dev/null; then
    echo "run-fuzzers: $tool not found; scripts/install-deps.sh installs clang and libclang-rt-14-dev" >&2
    exit 1
  fi
done

# --- (a) build -------------------------------------------------------------------
echo "run-fuzzers: building into $build_dir (log: $build_dir/build.log)"
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  CXX=clang++ cmake -S "$fuzz_src" -B "$build_dir" >/dev/null
fi
mkdir -p "$build_dir"
if ! cmake --build "$build_dir" -j "$jobs" >"$build_dir/build.log" 2>&1; then
  tail -n 60 "$build_dir/build.log" >&2
  echo "run-fuzzers: build failed (full log: $build_dir/build.log)" >&2
  exit 1
fi
bin=$build_dir/bin

# Sanitizer reports must end the run; leaks count as failures.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [[ $update_seeds -eq 1 ]]; then
  rm -rf "$fuzz_src/corpus"
  "$bin/make_seeds" "$fuzz_src/corpus"
  echo "run-fuzzers: regenerated $fuzz_src/corpus ($(find "$fuzz_src/corpus" -type f | wc -l) files)"
  exit 0
fi

logs=$build_dir/logs
mkdir -p "$logs"
failures=()

# Seeds for the code as it is now; the committed corpus is replayed too. make_seeds
# checks that each seed has the outcome it is meant to exercise (a valid request is
# answered, ...): a seed that does not is a failure, but the run goes on.
rm -rf "$build_dir/seeds"
if ! "$bin/make_seeds" "$build_dir/seeds" 2>"$logs/make_seeds.log"; then
  echo "run-fuzzers: FAILED: make_seeds"
  sed 's/^/    /' "$logs/make_seeds.log"
  failures+=("make_seeds")
fi
if [[ -d "$fuzz_src/corpus" ]] && ! diff -rq "$fuzz_src/corpus" "$build_dir/seeds" >/dev/null; then
  echo "run-fuzzers: note: tests/fuzz/corpus differs from what make_seeds writes now;" \
    "refresh it with scripts/run-fuzzers.sh --update-seeds"
fi

# Prints what a failed libFuzzer run left in its log: the sanitizer or FUZZ_CHECK
# report and the input that caused it.
report_failure() {
  local target=$1 log=$2 input=$3
  echo "run-fuzzers: FAILED: $target"
  grep -E 'ERROR: |FUZZ_CHECK failed|runtime error:|SUMMARY:|deadly signal|ALARM|out-of-memory|LeakSanitizer' \
    "$log" | head -n 12 | sed 's/^/    /' || true
  echo "    input: ${input:-unknown (see $log)}"
  if [[ -n "$input" && -f "$input" ]]; then
    echo "    hex:   $(head -c 256 "$input" | od -An -tx1 -v | tr -d ' \n')$([[ $(stat -c %s "$input") -gt 256 ]] && echo '...')"
  fi
  echo "    reproduce: $bin/fuzz_$target $input"
  echo "    keep it:   cp $input $fuzz_src/regressions/$target/"
  echo "    log:       $log"
  failures+=("$target")
}

# --- (b) replay ------------------------------------------------------------------
for t in "${targets[@]}"; do
  inputs=()
  for dir in "$fuzz_src/corpus/$t" "$build_dir/seeds/$t" "$fuzz_src/regressions/$t"; do
    [[ -d "$dir" ]] || continue
    while IFS= read -r -d '' f; do inputs+=("$f"); done \
      < <(find "$dir" -type f ! -name '.*' ! -name '*.md' -print0 | sort -z)
  done
  log=$logs/$t.replay.log
  if [[ ${#inputs[@]} -eq 0 ]]; then
    echo "run-fuzzers: FAILED: $t has no seed inputs"
    failures+=("$t")
    continue
  fi
  if "$bin/fuzz_$t" -timeout=10 "${inputs[@]}" >"$log" 2>&1; then
    echo "run-fuzzers: replayed $t: ${#inputs[@]} inputs"
  else
    report_failure "$t" "$log" "$(grep -E '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')"
  fi
done

# --- (c) fuzz --------------------------------------------------------------------
declare -A summary
if [[ $seconds -gt 0 ]]; then
  for t in "${targets[@]}"; do
    case " ${failures[*]:-} " in *" $t "*) continue ;; esac
    work=$build_dir/work/$t
    artifacts=$build_dir/artifacts/$t/
    rm -rf "$work"
    mkdir -p "$work" "$artifacts"
    corpora=("$work")
    for dir in "$fuzz_src/corpus/$t" "$build_dir/seeds/$t" "$fuzz_src/regressions/$t"; do
      [[ -d "$dir" ]] && corpora+=("$dir")
    done
    log=$logs/$t.fuzz.log
    echo "run-fuzzers: fuzzing $t for ${seconds} s (max_len ${max_len[$t]})"
    # The first corpus directory receives new inputs; the others are only read.
    status=0
    "$bin/fuzz_$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "${corpora[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
    summary[$t]="execs ${execs:-?}  exec/s ${rate:-?}  ${cov:-cov: ?}  corpus $(find "$work" -type f | wc -l) new"
    if [[ $status -ne 0 ]]; then
      input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
      report_failure "$t" "$log" "$input"
      summary[$t]+="  FAILED"
    fi
    echo "run-fuzzers: $t: ${summary[$t]}"
  done
fi

echo
echo "run-fuzzers: summary (${seconds} s per target)"
for t in "${targets[@]}"; do
  state=ok
  case " ${failures[*]:-} " in *" $t "*) state=FAILED ;; esac
  printf '  %-22s %-7s %s\n' "$t" "$state" "${summary[$t]:-}"
done
if [[ ${#failures[@]} -ne 0 ]]; then
  echo "run-fuzzers: ${#failures[@]} failure(s): ${failures[*]}"
  exit 1
fi
echo "run-fuzzers: all targets passed"
