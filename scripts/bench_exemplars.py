#!/usr/bin/env python3
"""Stimulus selection end to end: `exemplar exemplars` against onnxruntime (Python).

Prints figures, asserts nothing. Run by `scripts/bench.sh exemplars` (which makes the
virtual environment with onnxruntime, onnx, numpy and Pillow from PyPI).

    python3 scripts/bench_exemplars.py [--images N] [--model M] [--layers A,B,…] [--units K]
                                       [--backends cpu,gpu] [--work DIR] [--binary B]

1. Makes N JPEGs of ImageNet-like sizes (shorter side 300-500 px, aspect 3:4 to 4:3, quality
   80-95) from random crops, flips and colour shifts of the photographs fetch_models.sh
   keeps in .tools/models/images (cached in --work; never committed).
2. Draws K units over the layers with `exemplar sample-units --layers … --count K --seed 1`
   (the paper's draw: a layer, then one of its channels) and times `exemplar exemplars
   --units` (release build) over the images: file walk, decode and preprocess, one forward
   pass per chunk up to the deepest layer, every layer's channels read back, hashing, the
   selection and the stimuli written for every unit; peak memory is the process's maximum
   resident set.
3. Times onnxruntime on the same ONNX file (the layers added as graph outputs, one run per
   batch), the same preprocessing (PIL: shorter side to 256 bilinear, centre crop 224,
   ImageNet mean/std), the same batch size, intra-op threads = the machine's cores, PIL
   decoding in the main thread, channel means of the same K units.
4. Prints images/s of each, the ratio, and the time each would take for ImageNet's
   1,281,167 training images; for exemplar also its activation pass alone (the rate of its
   last progress line), which is what onnxruntime's run does: the selection and the
   stimuli written after it cost the same for any number of images.
"""

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGENET_TRAIN = 1_281_167


def make_images(n, out):
    from PIL import Image, ImageEnhance

    done = os.path.join(out, f".done-{n}")
    if os.path.exists(done):
        return
    shutil.rmtree(out, ignore_errors=True)
    src_dir = os.path.join(ROOT, ".tools/models/images")
    sources = [Image.open(os.path.join(src_dir, f)).convert("RGB") for f in sorted(os.listdir(src_dir))]
    rng = random.Random(1)
    for i in range(n):
        img = rng.choice(sources)
        w, h = img.size
        cw, ch = rng.randint(w // 3, w), rng.randint(h // 3, h)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = img.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        short = rng.randint(300, 500)
        aspect = rng.uniform(0.75, 1.333)
        size = (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))
        crop = crop.resize(size, Image.BILINEAR)
        crop = ImageEnhance.Color(crop).enhance(rng.uniform(0.6, 1.4))
        crop = ImageEnhance.Brightness(crop).enhance(rng.uniform(0.7, 1.3))
        folder = os.path.join(out, f"class_{i % 100:03d}")
        os.makedirs(folder, exist_ok=True)
        crop.save(os.path.join(folder, f"img_{i:06d}.jpg"), quality=rng.randint(80, 95))
    open(done, "w").close()


def peak_rss_mib_children():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def sample_units(binary, model, layers, count, work):
    import json

    r = subprocess.run([binary, "sample-units", "--model", model, "--layers", ",".join(layers),
                        "--count", str(count), "--seed", "1"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"exemplar sample-units failed:\n{r.stderr}")
    path = os.path.join(work, "units.jsonl")
    with open(path, "w") as f:
        f.write(r.stdout)
    return path, [(u["layer"], u["channel"]) for u in map(json.loads, r.stdout.splitlines()) if u]


def run_exemplar(binary, model, units_file, images, backend, chunk):
    out = tempfile.mkdtemp(prefix="exemplar-bench-out-")
    args = [binary, "exemplars", "--model", model, "--units", units_file, "--images", images,
            "--out", out, "--backend", backend, "--batches", "1", "--chunk", str(chunk)]
    # A fresh process per backend: its peak RSS alone (ru_maxrss of children is the maximum
    # over all children waited for, so each run is measured in its own child).
    code = ("import resource,subprocess,sys,time;t=time.perf_counter();"
            "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode);"
            "sys.stderr.write(r.stderr)")
    r = subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    secs, rss_kib, rc = r.stdout.split()
    if rc != "0":
        sys.exit(f"exemplar exemplars failed:\n{r.stderr[-2000:]}")
    # The activation pass alone (what onnxruntime's figure is comparable with): the rate of
    # the command's last progress line; the rest of the run is the selection and the
    # stimuli it writes, a cost per unit that does not grow with the number of images.
    done = re.findall(r"(\d+)/\1 images \(100 %\), ([\d.]+) images/s", r.stderr)
    pass_rate = float(done[-1][1]) if done else None
    return float(secs), int(rss_kib) / 1024, pass_rate


def run_onnxruntime(model, units, files, chunk):
    import numpy as np
    import onnx
    import onnxruntime as ort
    from PIL import Image

    layers = list(dict.fromkeys(layer for layer, _ in units))
    by_layer = {l: [c for ul, c in units if ul == l] for l in layers}
    m = onnx.load(model)
    for layer in layers:
        m.graph.output.append(onnx.helper.make_tensor_value_info(layer, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count()
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)

    def load(path):
        img = Image.open(path).convert("RGB")
        w, h = img.size
        s = 256 / min(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
        w, h = img.size
        x, y = (w - 224) // 2, (h - 224) // 2
        img = img.crop((x, y, x + 224, y + 224))
        a = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
        return (a - mean) / std

    t = time.perf_counter()
    values = []
    for i in range(0, len(files), chunk):
        batch = np.stack([load(f) for f in files[i:i + chunk]])
        outs = sess.run(layers, {name: batch})
        values.append(np.concatenate(
            [o[:, by_layer[l]].mean(axis=tuple(range(2, o.ndim))) for l, o in zip(layers, outs)],
            axis=1))
    secs = time.perf_counter() - t
    return secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, np.concatenate(values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--model", default=os.path.join(ROOT, ".tools/models/efficientnet-lite0.onnx"))
    p.add_argument("--layers", default="blocks.2.expand,blocks.4.expand,blocks.6.expand,"
                   "blocks.8.expand,blocks.10.expand,blocks.12.expand,blocks.14.expand,head")
    p.add_argument("--units", type=int, default=100)
    p.add_argument("--backends", default="cpu")
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--work", default=os.path.join(ROOT, "target/bench-exemplars"))
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/exemplar"),
                   help="the exemplar binary (the test command's brief run: the debug build)")
    a = p.parse_args()
    binary = a.binary
    images = os.path.join(a.work, f"images-{a.images}")
    print(f"making {a.images} JPEGs in {images} (cached) …", flush=True)
    make_images(a.images, images)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(images) for f in fs if f.endswith(".jpg"))
    units_file, units = sample_units(binary, a.model, a.layers.split(","), a.units, a.work)
    cores = os.cpu_count()
    print(f"model {os.path.relpath(a.model, ROOT)}, {len(units)} units over "
          f"{len(set(l for l, _ in units))} layers ({a.layers}), "
          f"{len(files)} images, batch {a.chunk}, {cores} cores\n")
    rows = []
    for backend in a.backends.split(","):
        secs, rss, pass_rate = run_exemplar(binary, a.model, units_file, images, backend, a.chunk)
        rows.append((f"exemplar exemplars ({backend})", secs, rss))
        if pass_rate:
            rows.append((f"  its activation pass alone", len(files) / pass_rate, rss))
    secs, rss, _ = run_onnxruntime(a.model, units, files, a.chunk)
    rows.append((f"onnxruntime {__import__('onnxruntime').__version__} (Python, PIL)", secs, rss))
    ort_rate = len(files) / rows[-1][1]
    print(f"{'':42} {'images/s':>9} {'peak MiB':>9} {'vs ORT':>7} {'1.28 M images':>14}")
    for name, secs, rss in rows:
        rate = len(files) / secs
        hours = IMAGENET_TRAIN / rate / 3600
        print(f"{name:42} {rate:9.1f} {rss:9.0f} {rate / ort_rate:7.2f} {hours:12.1f} h")


if __name__ == "__main__":
    main()
