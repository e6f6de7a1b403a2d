#!/usr/bin/env bash
# Installs what building and testing exemplar needs, skipping whatever is already there.
# A fresh machine needs only the Rust toolchain, Node/npm, Python and apt (as root).
# Tools go to ~/.cargo/bin (Trunk, wasm-bindgen) and .tools/ (wasm-opt, Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen version in Cargo.lock (Trunk refuses a mismatch).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.64.1
# The in-browser reference of the engine benchmark (tests/e2e/bench_engine.mjs); never in the client.
ONNXRUNTIME_WEB_VERSION=1.30.0

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

# The two tools are built without link-time optimisation and with light optimisation:
# they spend their time in wasm-opt and the compiler, not in their own code, and Trunk's
# own release profile (fat LTO, one codegen unit) would double the time it takes to build.
tool_profile=(env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1)
if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION"; then
  say "installing Trunk $TRUNK_VERSION (a few minutes)"
  "${tool_profile[@]}" cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: its lock file pins a crate version the registry mirror lacks.
  "${tool_profile[@]}" cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# SciPy: the reference the analysis crate's special functions are checked against
# (crates/exemplar-analysis/tests/scipy.rs); the test itself never installs anything.
if ! python3 -c 'import scipy' 2>/dev/null; then
  say "installing SciPy from PyPI (the analysis tests' reference)"
  python3 -m pip install --quiet --disable-pip-version-check "scipy==1.17.1"
fi

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || [ -e /usr/share/vulkan/icd.d/lvp_icd.aarch64.json ] || need_apt+=(mesa-vulkan-drivers)
# The ONNX operator test suite the engine's tests run (crates/exemplar-engine/tests/onnx_node.rs).
[ -d /usr/share/libonnx-testdata/data/node ] || need_apt+=(libonnx-testdata)
# The collector's PostgreSQL store is tested against a real server (scripts/pg_temp.sh).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} from Debian"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# wasm-opt from npm's binaryen (Debian's wasm-opt 108 produces a broken module) and
# playwright-core driving Debian's Chromium (never its own browser download).
if [ ! -x .tools/node_modules/.bin/wasm-opt ] || [ ! -d .tools/node_modules/playwright-core ] \
  || ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" .tools/node_modules/playwright-core/package.json; then
  say "installing binaryen@$BINARYEN_VERSION and playwright-core@$PLAYWRIGHT_VERSION into .tools/"
  mkdir -p .tools
  (cd .tools && [ -f package.json ] || echo '{"private": true}' > package.json)
  (cd .tools && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION")
fi
if [ ! -d .tools/node_modules/onnxruntime-web ] \
  || ! grep -q "\"version\": \"$ONNXRUNTIME_WEB_VERSION\"" .tools/node_modules/onnxruntime-web/package.json; then
  say "installing onnxruntime-web@$ONNXRUNTIME_WEB_VERSION into .tools/ (the engine benchmark's reference)"
  (cd .tools && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" "onnxruntime-web@$ONNXRUNTIME_WEB_VERSION")
fi

# The trained models the engine's tests compare with tract-onnx (git-ignored, never committed).
./scripts/fetch_models.sh

say "ready: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -1)"
