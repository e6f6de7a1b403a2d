#!/usr/bin/env bash
# Fuzzes exemplar's untrusted inputs (crates/exemplar-fuzz): experiment.json, ONNX models
# up to a built plan, the collector's request envelope, the analysis CSV/JSONL readers.
#
#   scripts/fuzz.sh [--brief] [--engine afl|builtin] [--jobs N] [SECONDS] [TARGET...]
#
# Runs each TARGET (default: all four) for SECONDS (default 60; --brief: 10) and prints,
# per target, executions, executions per second, duration and crashes, with where the
# crashing inputs are. Exits non-zero when any target crashed (or hung).
#
# Engines: `afl` (coverage-guided AFL++ through cargo-afl; the default when `cargo afl`
# is installed, see scripts/setup.sh) and `builtin` (a mutation loop on stable Rust with
# no coverage feedback; the default of --brief, which the test command runs). Both hold
# each input to an allocation cap (the allocator aborts past 256 MiB; the engine runs
# under 32 MiB caps) so that a blow-up is a crash. --jobs runs that many targets at once.
# Work is kept under target/fuzz/TARGET/ (AFL++ resumes its queue there).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

brief=0 engine="" jobs=1 seconds="" targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --brief) brief=1 ;;
    --engine) engine="$2"; shift ;;
    --jobs|-j) jobs="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    [0-9]*) seconds="$1" ;;
    experiment|onnx|envelope|analysis) targets+=("$1") ;;
    *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(experiment onnx envelope analysis)
if [ "$brief" = 1 ]; then
  seconds="${seconds:-10}" engine="${engine:-builtin}"
  [ "$jobs" -gt 1 ] || jobs=2
fi
seconds="${seconds:-60}"
if [ -z "$engine" ]; then
  if cargo afl --version >/dev/null 2>&1; then engine=afl; else engine=builtin; fi
fi

work=target/fuzz
mkdir -p "$work"
if [ "$engine" = afl ]; then
  echo "fuzz.sh: building the AFL++-instrumented harness (target/afl)" >&2
  CARGO_TARGET_DIR=target/afl cargo afl build -p exemplar-fuzz --features afl --quiet
  bin=target/afl/debug/exemplar-fuzz
elif [ -n "${EXEMPLAR_FUZZ_BIN:-}" ]; then
  # Already built (the test command's `cargo test --workspace` builds it): no second build
  # with the features of this crate alone.
  bin=$EXEMPLAR_FUZZ_BIN
else
  cargo build -p exemplar-fuzz --quiet
  bin=target/debug/exemplar-fuzz
fi

run_one() { # target -> writes $work/$t/summary
  local t="$1" dir="$work/$1"
  mkdir -p "$dir"
  if [ "$engine" = afl ]; then
    "$bin" seeds "$t" "$dir/in" >/dev/null
    local status=0
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
      AFL_NO_UI=1 AFL_AUTORESUME=1 AFL_QUIET=1 \
      cargo afl fuzz -i "$dir/in" -o "$dir/afl" -V "$seconds" -t 10000 -- "$bin" afl "$t" \
      >"$dir/afl.log" 2>&1 || status=$?
    local stats="$dir/afl/default/fuzzer_stats"
    if [ ! -f "$stats" ]; then
      echo "$t: AFL++ did not start (exit $status); see $dir/afl.log" >"$dir/summary"
      tail -5 "$dir/afl.log" >>"$dir/summary"
      echo 1 >>"$dir/summary.failed"
      return
    fi
    get() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
    local crashes hangs
    crashes=$(get saved_crashes) hangs=$(get saved_hangs)
    printf '%s: engine=afl executions=%s execs/s=%s duration=%ss crashes=%s hangs=%s corpus=%s map_coverage=%s crash_dir=%s\n' \
      "$t" "$(get execs_done)" "$(get execs_per_sec)" "$(get run_time)" "$crashes" "$hangs" \
      "$(get corpus_count)" "$(get bitmap_cvg)" "$dir/afl/default/crashes" >"$dir/summary"
    if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then echo 1 >"$dir/summary.failed"; fi
  else
    if ! "$bin" run "$t" "$seconds" "$dir" >"$dir/summary" 2>"$dir/run.log"; then
      echo 1 >"$dir/summary.failed"
      if [ -s "$dir/crashes/$t-fatal.bin" ]; then
        echo "$t: ABORTED: $(grep -a 'FATAL' "$dir/run.log" | tail -1); input saved in $dir/crashes/$t-fatal.bin" >>"$dir/summary"
      fi
      grep -a 'crash:' "$dir/run.log" | head -5 >>"$dir/summary" || true
    fi
  fi
}

for t in "${targets[@]}"; do rm -f "$work/$t/summary" "$work/$t/summary.failed"; done
running=0
for t in "${targets[@]}"; do
  echo "fuzz.sh: $t for ${seconds}s ($engine)" >&2
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

failed=0
echo
for t in "${targets[@]}"; do
  cat "$work/$t/summary" 2>/dev/null || echo "$t: no result"
  if [ -f "$work/$t/summary.failed" ] || [ ! -f "$work/$t/summary" ]; then failed=1; fi
done
if [ "$failed" = 1 ]; then
  echo "fuzz.sh: CRASHES (see above); replay one with: $bin replay TARGET FILE" >&2
  exit 1
fi
echo "fuzz.sh: no crashes"
