#!/usr/bin/env bash
# Sets up everything on a fresh machine, builds the client and serves the demo
# experiment with a local records endpoint. Open the printed URL; Ctrl-C stops.
# PORT=9000 ./scripts/demo.sh picks another port.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
trunk build --release --offline
cargo build -p exemplar-cli --quiet
mkdir -p .run
echo "Records are stored in .run/responses.db (exemplar export --db .run/responses.db). Add ?pid=YOURNAME to the URL to start a fresh session with a chosen id."
exec target/debug/exemplar serve --site dist --experiment demo --db .run/responses.db --port "${PORT:-8787}"
