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
# The researcher's admin token for reading records over HTTP: made once, readable only by
# you, never part of the site or of experiment.json.
if [ ! -s .run/admin-token ]; then
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > .run/admin-token)
fi
EXEMPLAR_ADMIN_TOKEN=$(cat .run/admin-token)
export EXEMPLAR_ADMIN_TOKEN
echo "Records are stored in .run/responses.db (exemplar export --db .run/responses.db). Add ?pid=YOURNAME to the URL to start a fresh session with a chosen id."
echo "Read them over HTTP with your admin token (kept in .run/admin-token, for you only):"
echo "  curl -H 'Authorization: Bearer $EXEMPLAR_ADMIN_TOKEN' http://127.0.0.1:${PORT:-8787}/admin/records"
exec target/debug/exemplar serve --site dist --experiment demo --db .run/responses.db --port "${PORT:-8787}"
