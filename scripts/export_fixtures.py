#!/usr/bin/env python3
"""Real ONNX exports of every architecture of the IMI study, small, as the engine's fixtures.

    python3 scripts/export_fixtures.py [--out crates/exemplar-engine/tests/data/exports]

Needs torch, torchvision, timm, open_clip_torch, onnx, onnxscript and onnxruntime (PyPI);
put them in a venv of your own, e.g.

    python3 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch torchvision timm open_clip_torch onnx onnxscript onnxruntime
    /tmp/export-venv/bin/python scripts/export_fixtures.py

The test command never runs this script: it reads what this script wrote and committed
(crates/exemplar-engine/tests/exports.rs).

Each architecture is built from its library's own classes (torchvision, timm, open_clip),
at reduced width and depth but with the same building blocks, so its export has the same
ONNX patterns as the full network's; the Caffe/Lucid InceptionV1 (with LRN and TensorFlow's
"SAME" padding, as lucent ports it to torch) is written out here because no library ships
it. Weights are seeded; every constant-initialised parameter (batch-norm scales and running
statistics, layer scales, layer-norm affines) is randomised too, so that no block is the
identity. Inputs are 64x64, enough for five stride-2 stages and for 8x8 patches.

Every network is exported with both of torch's exporters:
- `ts`: the TorchScript-based exporter (`dynamo=False`), with a dynamic batch axis, at
  opsets 11, 13, 17 and the newest it writes;
- `dynamo`: `torch.export`-based (`dynamo=True`, its defaults, weights inside the file),
  with a static batch of 1, at its own opset and at 11, 13 and 17 through its version
  conversion, where that succeeds.
An export that fails is listed in the manifest's `failed` with torch's message.

For each file, onnxruntime (CPU, all graph optimisations off) computes unit activations,
the mean of each channel (axis 1 of [N, C, ...], the last axis of [N, tokens, C]), at three
inner tensors and the output, for the three images in inputs.bin ([3, 3, 64, 64] float32,
little-endian, already normalised). manifest.json records them with the versions of
everything used.
"""

import argparse
import json
import math
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

import open_clip
import timm
import torchvision
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer as ClipViT
from timm.models.convnext import ConvNeXt as TimmConvNeXt
from timm.models.vision_transformer import VisionTransformer as TimmViT
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.densenet import DenseNet
from torchvision.models.googlenet import BasicConv2d, GoogLeNet, Inception, InceptionAux
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.vision_transformer import VisionTransformer

SIZE = 64
IMAGES = 3
CLASSES = 10
TS_OPSETS = [11, 13, 17]
CONVERTED_OPSETS = [11, 13, 17]
# The one dynamo export that keeps its per-node metadata (see strip_metadata).
KEEP_METADATA = ("tv_vit_b_32", 18)


# --- the architectures, reduced --------------------------------------------------------


class SmallResNet(ResNet):
    """torchvision's ResNet (its Bottleneck blocks, stem and forward) with narrow stages."""

    def __init__(self, widths, width_per_group, stem):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = stem
        self.dilation = 1
        self.groups = 1
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(Bottleneck, widths[0], 1)
        self.layer2 = self._make_layer(Bottleneck, widths[1], 1, stride=2)
        self.layer3 = self._make_layer(Bottleneck, widths[2], 1, stride=2)
        self.layer4 = self._make_layer(Bottleneck, widths[3], 1, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * Bottleneck.expansion, CLASSES)


def narrow(c):
    """GoogLeNet's channel counts over 16 (every sum of branches stays a sum)."""
    return max(2, c // 16)


def narrow_conv(in_channels, out_channels, **kwargs):
    return BasicConv2d(in_channels if in_channels == 3 else narrow(in_channels), narrow(out_channels), **kwargs)


def narrow_inception(in_channels, *channels, conv_block=None):
    return Inception(narrow(in_channels), *(narrow(c) for c in channels), conv_block=BasicConv2d)


def tv_googlenet():
    m = GoogLeNet(
        num_classes=CLASSES,
        aux_logits=False,
        transform_input=True,
        init_weights=True,
        blocks=[narrow_conv, narrow_inception, InceptionAux],
    )
    m.fc = nn.Linear(narrow(1024), CLASSES)
    return m


class LucidInceptionV1(nn.Module):
    """The Caffe/Lucid InceptionV1 as lucent writes it in torch: TensorFlow's SAME padding
    by F.pad (max pools pad with -inf), LocalResponseNorm after the first and third
    convolutions, inception blocks concatenating 1x1, 3x3, 5x5 and pool branches, and a
    softmax head. Reduced to mixed3a, mixed3b and mixed4a at a sixteenth of the width."""

    class Mixed(nn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, cp):
            super().__init__()
            self.b1 = nn.Conv2d(cin, c1, 1)
            self.b3r = nn.Conv2d(cin, c3r, 1)
            self.b3 = nn.Conv2d(c3r, c3, 3)
            self.b5r = nn.Conv2d(cin, c5r, 1)
            self.b5 = nn.Conv2d(c5r, c5, 5)
            self.bp = nn.Conv2d(cin, cp, 1)

        def forward(self, x):
            b1 = F.relu(self.b1(x))
            b3 = F.relu(self.b3(F.pad(F.relu(self.b3r(x)), (1, 1, 1, 1))))
            b5 = F.relu(self.b5(F.pad(F.relu(self.b5r(x)), (2, 2, 2, 2))))
            p = F.max_pool2d(F.pad(x, (1, 1, 1, 1), value=float("-inf")), 3, 1)
            bp = F.relu(self.bp(p))
            return torch.cat([b1, b3, b5, bp], 1)

    def __init__(self):
        super().__init__()
        self.conv2d0 = nn.Conv2d(3, 4, 7, stride=2)
        self.conv2d1 = nn.Conv2d(4, 4, 1)
        self.conv2d2 = nn.Conv2d(4, 12, 3)
        self.mixed3a = self.Mixed(12, 4, 6, 8, 2, 2, 2)
        self.mixed3b = self.Mixed(16, 8, 8, 12, 2, 6, 4)
        self.mixed4a = self.Mixed(30, 12, 6, 13, 2, 3, 4)
        self.softmax2_pre_activation_matmul = nn.Linear(32, CLASSES)

    @staticmethod
    def pool(x):
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)

    @staticmethod
    def lrn(x):
        return F.local_response_norm(x, size=9, alpha=9.99999974738e-05, beta=0.5, k=1)

    def forward(self, x):
        x = F.relu(self.conv2d0(F.pad(x, (2, 3, 2, 3))))
        x = self.lrn(self.pool(x))
        x = F.relu(self.conv2d1(x))
        x = F.relu(self.conv2d2(F.pad(x, (1, 1, 1, 1))))
        x = self.pool(self.lrn(x))
        x = self.mixed3b(self.mixed3a(x))
        x = self.mixed4a(self.pool(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.softmax(self.softmax2_pre_activation_matmul(x), dim=1)


def tv_vit():
    return VisionTransformer(
        image_size=SIZE, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=CLASSES,
    )


ARCHITECTURES = {
    # name: (what it stands for, constructor)
    "tv_googlenet": ("torchvision GoogLeNet", tv_googlenet),
    "tv_resnet50": ("torchvision ResNet-50", lambda: SmallResNet([2, 4, 8, 16], 64, 8)),
    "tv_wide_resnet50_2": ("torchvision WideResNet-50-2", lambda: SmallResNet([2, 4, 8, 8], 128, 8)),
    "tv_densenet201": (
        "torchvision DenseNet-201",
        lambda: DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2, num_classes=CLASSES),
    ),
    "tv_convnext_base": (
        "torchvision ConvNeXt-B",
        lambda: ConvNeXt(
            [CNBlockConfig(4, 8, 1), CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)],
            num_classes=CLASSES,
        ),
    ),
    "tv_vit_b_32": ("torchvision ViT-B/32", tv_vit),
    "timm_convnext_base": (
        "timm convnext_base",
        lambda: TimmConvNeXt(depths=(1, 1, 1, 1), dims=(4, 8, 16, 32), num_classes=CLASSES),
    ),
    "timm_vit_base_patch32": (
        "timm vit_base_patch32_224",
        lambda: TimmViT(img_size=SIZE, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_ratio=2, num_classes=CLASSES),
    ),
    "clip_rn50": (
        "open_clip RN50 image tower",
        lambda: ModifiedResNet(layers=[1, 1, 1, 1], output_dim=16, heads=2, image_size=SIZE, width=2),
    ),
    "clip_vit_b_32": (
        "open_clip ViT-B-32 image tower",
        lambda: ClipViT(image_size=SIZE, patch_size=8, width=16, layers=2, heads=2, mlp_ratio=2, output_dim=8),
    ),
    "lucid_inceptionv1": ("Caffe/Lucid InceptionV1 (lucent's torch form, with LRN)", LucidInceptionV1),
}


def randomise(model, seed):
    """Seeded weights; constant-initialised tensors (norm scales, biases, running
    statistics, layer scales) get random values too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            flat = t.flatten()
            constant = flat.numel() > 0 and bool((flat == flat[0]).all())
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_((torch.rand(t.shape, generator=g) - 0.5) * 0.4)
            elif constant:
                if float(flat[0]) == 0.0:
                    t.copy_((torch.rand(t.shape, generator=g) - 0.5) * 0.4)
                else:
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()


# --- inputs ------------------------------------------------------------------------------


def images():
    """Three smooth, photograph-like scenes (gradients, edges, texture), normalised with
    ImageNet's mean and std, as [3, 3, 64, 64] float32."""
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    out = []
    for k in range(IMAGES):
        r = 0.5 + 0.4 * np.sin(2 * math.pi * (x * (k + 1) + 0.3 * y))
        g = np.where((x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.08 + 0.03 * k, 0.8, 0.2 + 0.5 * y)
        b = 0.5 + 0.3 * np.cos(2 * math.pi * y * (2 + k)) * x
        rgb = np.stack([r, g, b]) + 0.05 * rng.standard_normal((3, SIZE, SIZE))
        out.append(np.clip(rgb, 0, 1))
    px = np.stack(out)
    mean = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    return ((px - mean) / std).astype(np.float32)


# --- export -------------------------------------------------------------------------------


def export_ts(model, x, path, opset):
    torch.onnx.export(
        model, (x,), path, dynamo=False, opset_version=opset,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )


def export_dynamo(model, x, path, opset):
    program = torch.onnx.export(model, (x[:1],), dynamo=True, opset_version=opset, external_data=False)
    program.save(path, external_data=False)


def newest_ts_opset():
    from torch.onnx import _constants  # noqa: PLC0415

    return _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET


def default_dynamo_opset():
    from torch.onnx._internal.exporter import _constants  # noqa: PLC0415

    return _constants.TORCHLIB_OPSET


# --- expected values ----------------------------------------------------------------------

PREFERRED = {
    "Relu", "Add", "Concat", "MaxPool", "LRN", "AveragePool", "LayerNormalization", "Gelu",
    "Mul", "Clip", "Conv", "BatchNormalization", "Div", "Sigmoid", "Softmax",
}


def channel_means(t):
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 2:
        return t
    if t.ndim == 3:
        return t.mean(axis=1)
    return t.reshape(t.shape[0], t.shape[1], -1).mean(axis=2)


def run_ort(model, feeds, outputs):
    """onnxruntime's values of `outputs` (graph outputs added), without graph rewrites."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output}
    for name in outputs:
        if name not in known:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return dict(zip(outputs, s.run(outputs, feeds)))


def expected(path, x, batch, reference):
    """The unit activations onnxruntime computes at three inner tensors (at 15%, 50% and
    85% of the way through the graph's unit tensors) and at the output; and the largest
    difference between the output's and the torch module's."""
    model = onnx.load(path)
    inp = model.graph.input[0].name
    out = model.graph.output[0].name
    names = [o for n in model.graph.node if n.op_type in PREFERRED for o in n.output[:1]]
    values = {}
    for i in range(0, len(x), batch):
        for k, v in run_ort(model, {inp: x[i : i + batch]}, names + [out]).items():
            values.setdefault(k, []).append(v)

    def unit_tensor(vs):
        # [N, C, H, W] over the (square) image or [N, tokens, C] for N images; not shape
        # arithmetic, per-head attention tensors or [tokens, N, C].
        if any(v.ndim not in (3, 4) or v.shape[0] != batch for v in vs):
            return False
        v = np.concatenate(vs)
        return (v.ndim == 3 or v.shape[2] == v.shape[3]) and np.isfinite(v).all() and np.abs(v).max() > 1e-3

    inner = [n for n in names if n != out and unit_tensor(values[n])]
    picks = [inner[round(f * (len(inner) - 1))] for f in (0.15, 0.5, 0.85)] if inner else []
    targets = []
    for name in dict.fromkeys(picks + [out]):
        v = np.concatenate(values[name])
        targets.append({
            "name": name,
            "shape": [batch] + list(v.shape[1:]),
            "means": [[float(f"{m:.7g}") for m in row] for row in channel_means(v)],
        })
    worst = float(np.abs(np.concatenate(values[out]) - reference).max())
    return targets, worst


def strip_metadata(path):
    """Drops the per-node metadata (source locations, module names) the dynamo exporter
    writes: it is most of a small file's bytes, and the engine skips it (one fixture keeps
    it, to show that)."""
    m = onnx.load(path)
    for n in m.graph.node:
        del n.metadata_props[:]
    onnx.save(m, path)


def ops_of(path):
    return sorted({n.op_type for n in onnx.load(path).graph.node})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="crates/exemplar-engine/tests/data/exports")
    ap.add_argument("--only", help="comma-separated architecture names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)

    x = images()
    x.astype("<f4").tofile(os.path.join(args.out, "inputs.bin"))
    newest_ts = newest_ts_opset()
    dyn = default_dynamo_opset()
    plans = [("ts", o) for o in dict.fromkeys(TS_OPSETS + [newest_ts])]
    plans += [("dynamo", o) for o in dict.fromkeys([dyn] + CONVERTED_OPSETS)]

    fixtures, failed = [], []
    only = set(args.only.split(",")) if args.only else None
    for seed, (arch, (label, make)) in enumerate(ARCHITECTURES.items()):
        if only and arch not in only:
            continue
        torch.manual_seed(seed)
        model = randomise(make(), seed)
        params = sum(p.numel() for p in model.parameters())
        xt = torch.from_numpy(x)
        with torch.no_grad():
            reference = model(xt).numpy()
        for exporter, opset in plans:
            file = f"{arch}-{exporter}-op{opset}.onnx"
            path = os.path.join(args.out, file)
            try:
                (export_ts if exporter == "ts" else export_dynamo)(model, xt, path, opset)
                written = onnx.load(path).opset_import
                got = max((o.version for o in written if o.domain in ("", "ai.onnx")), default=0)
                if got != opset:
                    raise RuntimeError(f"asked for opset {opset}, the file says {got}")
                if exporter == "dynamo" and (arch, opset) != KEEP_METADATA:
                    strip_metadata(path)
                batch = len(x) if exporter == "ts" else 1
                targets, worst = expected(path, x, batch, reference)
            except Exception as e:  # noqa: BLE001 - every failure is recorded, not fatal
                if os.path.exists(path):
                    os.remove(path)
                message = str(e).strip().splitlines()
                failed.append({"architecture": arch, "exporter": exporter, "opset": opset,
                               "error": (message[-1] if message else type(e).__name__)[:300]})
                print(f"FAILED {file}: {failed[-1]['error']}", file=sys.stderr)
                continue
            fixtures.append({
                "file": file, "architecture": label, "exporter": exporter, "opset": opset,
                "batch": "dynamic" if exporter == "ts" else 1, "parameters": params,
                "ops": ops_of(path), "max_abs_vs_torch": float(f"{worst:.3g}"), "targets": targets,
            })
            print(f"ok {file}: {os.path.getsize(path)} bytes, {len(targets)} targets, |ort - torch| {worst:.2g}")

    manifest = {
        "generated_by": "scripts/export_fixtures.py",
        "versions": {
            "python": sys.version.split()[0], "torch": torch.__version__,
            "torchvision": torchvision.__version__, "timm": timm.__version__,
            "open_clip": open_clip.__version__, "onnx": onnx.__version__,
            "onnxscript": __import__("onnxscript").__version__, "onnxruntime": ort.__version__,
        },
        "input": {"file": "inputs.bin", "shape": list(x.shape), "dtype": "float32 little-endian"},
        "fixtures": fixtures,
        "failed": failed,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, e["file"])) for e in fixtures)
    print(f"{len(fixtures)} fixtures, {total / 1e6:.2f} MB; {len(failed)} exports failed")


if __name__ == "__main__":
    main()
