#!/usr/bin/env bash
# Every test of exemplar: formatting and lints, the native tests, brief fuzzing, the
# release build of the client, brief runs of the benchmarks (scripts/bench.sh runs them in
# full), and the browser tests (Chromium; Firefox ESR and WebKitGTK in engines.test.mjs)
# against a real `exemplar serve`.
# Installs what it needs first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's wall time is printed as it ends, and all of them again at the end.
timings=() step_name="" step_start=$SECONDS run_start=$SECONDS
end_step() {
  [ -n "$step_name" ] || return 0
  timings+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
  printf '\033[2m-- %s: %ds\033[0m\n' "$step_name" $((SECONDS - step_start))
  step_name=""
}
step() { end_step; step_name="$*" step_start=$SECONDS; printf '\n\033[1m== %s\033[0m\n' "$*"; }
summary() {
  local rc=${1:-$?}
  end_step
  printf '\n\033[1m== wall time per step\033[0m\n'
  printf '%s\n' "${timings[@]}"
  printf '%5ds  total%s\n' $((SECONDS - run_start)) "$([ $rc = 0 ] || echo " (failed, exit $rc)")"
}
trap summary EXIT

step "setup (scripts/setup.sh: installs what is missing)"
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

step "format"
cargo fmt --all -- --check

step "lints (native crates, and the app for wasm32)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p exemplar --quiet -- -D warnings

# One native build serves every later step: `cargo test --workspace` builds the binaries
# (target/debug/exemplar, exemplar-fuzz) and the examples with the same features, so no
# step below compiles the workspace again in another profile or feature set.
step "native tests"
cargo test --workspace
# The collector benchmark built as a test: a brief run (scripts/bench.sh runs it in full).
cargo test --workspace --quiet --bench collector

step "fuzzing, briefly (scripts/fuzz.sh: 10 s per target; fails on a crash)"
EXEMPLAR_FUZZ_BIN=target/debug/exemplar-fuzz ./scripts/fuzz.sh --brief 10

step "client release build"
trunk build --release --offline

step "command line"
target/debug/exemplar validate demo
# The demo's stimuli really are what experiment.json says: every batch through its model.
target/debug/exemplar check demo --backend cpu

step "benchmarks, briefly (they must still run; figures: scripts/bench.sh)"
BENCH_RUNS=1 node tests/e2e/bench.mjs
BENCH_TRIALS=6 node tests/e2e/bench_timing.mjs
BENCH_QUICK=1 node tests/e2e/bench_engine.mjs
[ -x .tools/bench-venv/bin/python ] || python3 -m venv .tools/bench-venv
.tools/bench-venv/bin/pip install --quiet --disable-pip-version-check onnxruntime onnx numpy pillow
.tools/bench-venv/bin/python scripts/bench_exemplars.py --images 64 --binary target/debug/exemplar

step "browser tests (Chromium, Firefox ESR, WebKitGTK; real exemplar serve)"
node --test --test-concurrency=1 tests/e2e/

step "delivery fault scenarios again, the collector on PostgreSQL"
pg_dir=$(mktemp -d)
trap 'rc=$?; scripts/pg_temp.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; summary $rc' EXIT
# A server that does not start fails the run here (never a silent rerun on SQLite).
pg_url=$(scripts/pg_temp.sh start "$pg_dir")
EXEMPLAR_E2E_POSTGRES=$pg_url node --test --test-concurrency=1 tests/e2e/delivery.test.mjs
