#!/usr/bin/env bash
# Every benchmark of exemplar, in full: each prints figures and ratios against a named
# alternative run in the same script, and asserts nothing. Not part of the test command,
# which runs each of them only briefly to keep them working (scripts/test.sh).
#
#   scripts/bench.sh [client] [timing] [collector] [engine-browser] [engine-native] [exemplars]
#   (default: all)
#
# client          node tests/e2e/bench.mjs: the participant's page against jsPsych 8
# timing          node tests/e2e/bench_timing.mjs: recorded RTs and feedback against the browser's
#                 paint and input clocks, exemplar against jsPsych 8 (100 trials each, ~12 min)
# collector       cargo bench --bench collector: exemplar collect against SQLite alone
# engine-browser  node tests/e2e/bench_engine.mjs: the engine in Chromium against onnxruntime-web
# engine-native   cargo bench --bench engine: the engine natively against tract-onnx (~10 min)
# exemplars       scripts/bench_exemplars.py: `exemplar exemplars` over 10,000 generated JPEGs
#                 against onnxruntime (Python, PIL) on the same ONNX file (BENCH_IMAGES, ~15 min)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

which=("$@")
[ ${#which[@]} -gt 0 ] || which=(client timing collector engine-browser engine-native exemplars)
for w in "${which[@]}"; do
  case "$w" in
    client|timing|collector|engine-browser|engine-native|exemplars) ;;
    *) echo "bench.sh: unknown benchmark $w (see the header of this script)" >&2; exit 2 ;;
  esac
done
wants() { [[ " ${which[*]} " == *" $1 "* ]]; }

if wants client || wants timing || wants engine-browser; then
  trunk build --release --offline
  cargo build -p exemplar-cli --quiet
fi
wants client && node tests/e2e/bench.mjs
wants timing && node tests/e2e/bench_timing.mjs
wants collector && cargo bench -p exemplar-cli --bench collector
wants engine-browser && node tests/e2e/bench_engine.mjs
wants engine-native && cargo bench -p exemplar-engine --bench engine
if wants exemplars; then
  # The reference runs in its own virtual environment (PyPI: onnxruntime, onnx, numpy, Pillow).
  [ -x .tools/bench-venv/bin/python ] || python3 -m venv .tools/bench-venv
  .tools/bench-venv/bin/pip install --quiet onnxruntime onnx numpy pillow
  cargo build --release -p exemplar-cli --quiet
  .tools/bench-venv/bin/python scripts/bench_exemplars.py --images "${BENCH_IMAGES:-10000}"
fi
exit 0
