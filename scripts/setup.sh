#!/usr/bin/env bash
# Installs what building and testing exemplar needs, skipping whatever is already there.
# A fresh machine needs only the Rust toolchain, Node/npm, Python and apt (as root).
# Tools go to ~/.cargo/bin (Trunk, wasm-bindgen) and .tools/ (wasm-opt, the browser drivers).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen version in Cargo.lock (Trunk refuses a mismatch).
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.64.1
# Firefox ESR over WebDriver BiDi (Playwright drives only its own patched Firefox build).
PUPPETEER_VERSION=24.43.1
# WebKitGTK's MiniBrowser through Debian's WebKitWebDriver (W3C WebDriver).
SELENIUM_VERSION=4.36.0
# The accessibility checker injected into the participant's pages (tests/e2e/a11y.mjs).
AXE_VERSION=4.14.1
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
# The other browser engines the participant's page is tested in (tests/e2e/engines.test.mjs):
# Firefox ESR, and WebKitGTK (Safari's engine) with its WebDriver, on a virtual X display.
command -v firefox-esr >/dev/null || need_apt+=(firefox-esr)
command -v WebKitWebDriver >/dev/null || need_apt+=(webkit2gtk-driver)
command -v Xvfb >/dev/null || need_apt+=(xvfb)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} from Debian"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# From npm into .tools/: wasm-opt from binaryen (Debian's wasm-opt 108 produces a broken
# module); playwright-core driving Debian's Chromium (never its own browser download);
# puppeteer-core and selenium-webdriver driving Debian's Firefox ESR and WebKitGTK; axe-core;
# onnxruntime-web, the engine benchmark's in-browser reference (never in the client).
npm_packages=("binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" "puppeteer-core@$PUPPETEER_VERSION"
  "selenium-webdriver@$SELENIUM_VERSION" "axe-core@$AXE_VERSION" "onnxruntime-web@$ONNXRUNTIME_WEB_VERSION")
npm_missing=()
for spec in "${npm_packages[@]}"; do
  name=${spec%@*} version=${spec##*@}
  grep -qs "\"version\": \"$version\"" ".tools/node_modules/$name/package.json" || npm_missing+=("$spec")
done
if [ ${#npm_missing[@]} -gt 0 ]; then
  say "installing ${npm_missing[*]} into .tools/"
  mkdir -p .tools
  (cd .tools && [ -f package.json ] || echo '{"private": true}' > package.json)
  # All of them in one install, so npm keeps every one (it prunes what a later call omits).
  (cd .tools && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent "${npm_packages[@]}")
fi

# The trained models the engine's tests compare with tract-onnx (git-ignored, never committed).
./scripts/fetch_models.sh

say "ready: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -1), $(firefox-esr --version 2>/dev/null | head -1)"
