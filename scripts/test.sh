#!/usr/bin/env bash
# Every test of exemplar: formatting and lints, the native tests, the release build of
# the client, the benchmark (prints figures), and the browser tests in headless Chromium
# against a real `exemplar serve`. Installs what it needs first (scripts/setup.sh).
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

step "native tests"
cargo test --workspace

step "fuzzing, briefly (scripts/fuzz.sh: 10 s per target; fails on a crash)"
./scripts/fuzz.sh --brief 10

step "client release build"
trunk build --release --offline

step "command line"
cargo build -p exemplar-cli --quiet
target/debug/exemplar validate demo
# The demo's stimuli really are what experiment.json says: every batch through its model.
target/debug/exemplar check demo --backend cpu

step "benchmarks (figures only; they assert nothing)"
node tests/e2e/bench.mjs || echo "the client benchmark did not finish (it is not a test; see above)"
node tests/e2e/bench_engine.mjs || echo "the engine benchmark did not finish (it is not a test; see above)"
cargo bench -p exemplar-cli --bench collector || echo "the collector benchmark did not finish (it is not a test; see above)"

step "browser tests (headless Chromium, real exemplar serve)"
node --test --test-concurrency=1 tests/e2e/

step "delivery fault scenarios again, the collector on PostgreSQL"
pg_dir=$(mktemp -d)
trap 'rc=$?; scripts/pg_temp.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; summary $rc' EXIT
# A server that does not start fails the run here (never a silent rerun on SQLite).
pg_url=$(scripts/pg_temp.sh start "$pg_dir")
EXEMPLAR_E2E_POSTGRES=$pg_url node --test --test-concurrency=1 tests/e2e/delivery.test.mjs
