#!/usr/bin/env bash
# Remakes the demo experiment (demo/) from EfficientNet-Lite0 and scikit-image's
# freely licensed photographs with `exemplar exemplars`; see scripts/make_demo.py for every
# step. Deterministic: with the same engine a second run writes the same bytes (another
# engine version may change the last digit of activations.csv, not the selection). Ranking
# ~860 crops once per layer on the CPU takes about a minute on two cores; the release build
# before it takes longer.
#   ./scripts/make_demo.sh            # then: exemplar validate demo && exemplar check demo
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch_models.sh                 # EfficientNet-Lite0 → .tools/models, venv .tools/py
PILLOW_VERSION=13.0.0
.tools/py/bin/python -c "import PIL, sys; sys.exit(PIL.__version__ != '$PILLOW_VERSION')" 2>/dev/null \
  || .tools/py/bin/python -m pip install --quiet --disable-pip-version-check "pillow==$PILLOW_VERSION"
cargo build --release --quiet -p exemplar-cli
.tools/py/bin/python scripts/make_demo.py --exemplar target/release/exemplar "$@"
target/release/exemplar validate demo
target/release/exemplar check demo --backend cpu
