//! One ONNX node to one of the engine's nodes: its attributes parsed and checked into an
//! [`Op`] (`convert`), a Split's outputs as nodes of their own (`split_part`), and the
//! attribute helpers the import and the constant folder share. An operator the engine
//! lacks, or an attribute it cannot honour, is an error naming the node.

use super::import::Loader;
use super::{AutoPad, Binary, Node, Op, PadMode, Unary, Window};
use std::borrow::Cow;

use crate::onnx::{AttributeProto, NodeProto, TensorProto};
use crate::{EngineError, Result, Tensor};

/// The operators the engine computes on the images' data (besides `Constant`), as
/// [`convert`] accepts them; the README lists them (checked by `tests/operators.rs`).
pub const COMPUTED: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Conv",
    "Div",
    "Dropout",
    "Erf",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "If",
    "LRN",
    "LayerNormalization",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "Pow",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
];

pub(super) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}
pub(super) fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}
fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}
fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}
fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// A Constant node's output name and value (`None` for any other node).
pub(super) fn constant_value(
    n: &NodeProto,
    idx: usize,
) -> Result<Option<(&str, Cow<'_, TensorProto>)>> {
    if n.op_type != "Constant" || !n.domain.is_empty() {
        return Ok(None);
    }
    let Some(out) = n.output.first() else {
        return Ok(None);
    };
    let t = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
        Cow::Borrowed(t)
    } else if let Some(a) = attr(n, "value_float") {
        Cow::Owned(TensorProto::from_f32(out, &[], &[a.f]))
    } else if let Some(a) = attr(n, "value_floats") {
        Cow::Owned(TensorProto::from_f32(out, &[a.floats.len()], &a.floats))
    } else if let Some(a) = attr(n, "value_int") {
        Cow::Owned(TensorProto::from_i64(out, &[], &[a.i]))
    } else if let Some(a) = attr(n, "value_ints") {
        Cow::Owned(TensorProto::from_i64(out, &[a.ints.len()], &a.ints))
    } else {
        return Err(unsupported(
            n,
            idx,
            "only numeric constants (`value`, `value_float(s)`, `value_int(s)`) are supported",
        ));
    };
    Ok(Some((out, t)))
}

/// An If whose condition is known (a constant, or folded from the input's shape): the
/// chosen branch, which may hold Constant nodes and at most one other node (torch writes
/// such an If for `squeeze` of an axis whose size it cannot see: Squeeze or Identity).
fn if_branch(n: &NodeProto, idx: usize, l: &mut Loader) -> Result<Node> {
    let name = node_label(n, idx);
    let cond = n
        .input
        .first()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EngineError::Model(format!("node '{name}' (If) has no condition")))?;
    let cond = const_ints(l, n, idx, cond, "condition")?;
    let [c] = cond[..] else {
        return Err(unsupported(n, idx, "a condition that is not one value"));
    };
    let which = if c != 0 { "then_branch" } else { "else_branch" };
    let branch = attr(n, which)
        .and_then(|a| a.g.as_deref())
        .ok_or_else(|| EngineError::Model(format!("node '{name}' (If) has no {which}")))?;
    let (Some(out), [result]) = (n.output.first(), &branch.output[..]) else {
        return Err(unsupported(n, idx, "more than one output"));
    };
    for t in &branch.initializer {
        l.raw_consts.insert(t.name.clone(), Cow::Owned(t.clone()));
    }
    let mut computed = Vec::new();
    for (k, m) in branch.node.iter().enumerate() {
        match constant_value(m, k)? {
            Some((o, t)) => {
                l.raw_consts
                    .insert(o.to_string(), Cow::Owned(t.into_owned()));
            }
            None => computed.push(m),
        }
    }
    let mut node = match computed[..] {
        [] => Node {
            name: name.clone(),
            op_type: "Identity".into(),
            op: Op::Identity,
            inputs: vec![result.name.clone()],
            output: String::new(),
        },
        [m] if m.output.first() == Some(&result.name) => convert(m, idx, l)?,
        _ => {
            return Err(unsupported(
                n,
                idx,
                &format!(
                    "its {which} of {} nodes (only a branch of one node, besides constants, is supported)",
                    computed.len()
                ),
            ))
        }
    };
    node.name = format!("{name}/{}", node.name);
    node.output = out.clone();
    Ok(node)
}

pub(super) fn node_label(n: &NodeProto, idx: usize) -> String {
    if n.name.is_empty() {
        format!(
            "#{idx} (output '{}')",
            n.output.first().map_or("", |s| s.as_str())
        )
    } else {
        n.name.clone()
    }
}

pub(super) fn unsupported(n: &NodeProto, idx: usize, detail: &str) -> EngineError {
    EngineError::UnsupportedOp {
        node: node_label(n, idx),
        op_type: n.op_type.clone(),
        detail: if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        },
    }
}

fn usize2(
    v: Option<Vec<i64>>,
    default: usize,
    n: &NodeProto,
    idx: usize,
    what: &str,
) -> Result<[usize; 2]> {
    match v {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(unsupported(
            n,
            idx,
            &format!("{what} {v:?} (only 2-D windows are supported)"),
        )),
    }
}

fn window(n: &NodeProto, idx: usize, needs_kernel: bool) -> Result<Window> {
    if let Some(k) = attr_ints(n, "kernel_shape").filter(|k| k.len() == 3) {
        return window_3d(n, idx, &k);
    }
    let kernel = match attr_ints(n, "kernel_shape") {
        None if needs_kernel => return Err(unsupported(n, idx, "kernel_shape is missing")),
        None => None,
        k => Some(usize2(k, 1, n, idx, "kernel_shape")?),
    };
    let pads = match attr_ints(n, "pads") {
        None => [0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
        Some(p) => {
            return Err(unsupported(
                n,
                idx,
                &format!("pads {p:?} (only 2-D windows are supported)"),
            ))
        }
    };
    Ok(Window {
        kernel,
        strides: usize2(attr_ints(n, "strides"), 1, n, idx, "strides")?,
        dilations: usize2(attr_ints(n, "dilations"), 1, n, idx, "dilations")?,
        pads,
        auto_pad: auto_pad(n, idx)?,
        ceil_mode: attr_i(n, "ceil_mode", 0) != 0,
        merged_tail: false,
    })
}

fn auto_pad(n: &NodeProto, idx: usize) -> Result<AutoPad> {
    Ok(match attr_s(n, "auto_pad").as_deref() {
        None | Some("NOTSET") | Some("") => AutoPad::NotSet,
        Some("SAME_UPPER") => AutoPad::SameUpper,
        Some("SAME_LOWER") => AutoPad::SameLower,
        Some("VALID") => AutoPad::Valid,
        Some(other) => return Err(unsupported(n, idx, &format!("auto_pad {other}"))),
    })
}

/// A pool's 3-D window `k×1×1` (stride 1, no padding and no dilation on the last two axes),
/// as torch writes `F.local_response_norm`: a 2-D window over `[N, C, D, H·W]`
/// ([`Window::merged_tail`]). Any other 3-D window is refused.
fn window_3d(n: &NodeProto, idx: usize, kernel: &[i64]) -> Result<Window> {
    let three = |name: &str, default: i64| -> Option<Vec<i64>> {
        match attr_ints(n, name) {
            None => Some(vec![default; 3]),
            Some(v) if v.len() == 3 => Some(v),
            Some(_) => None,
        }
    };
    let (Some(strides), Some(dilations)) = (three("strides", 1), three("dilations", 1)) else {
        return Err(unsupported(
            n,
            idx,
            "strides or dilations of the wrong length",
        ));
    };
    let pads = match attr_ints(n, "pads") {
        None => vec![0; 6],
        Some(p) if p.len() == 6 => p,
        Some(p) => return Err(unsupported(n, idx, &format!("pads {p:?} for a 3-D window"))),
    };
    let trivial_tail = kernel[1..] == [1, 1]
        && strides[1..] == [1, 1]
        && dilations[1..] == [1, 1]
        && [pads[1], pads[2], pads[4], pads[5]] == [0; 4];
    let first_ok =
        kernel[0] >= 1 && strides[0] >= 1 && dilations[0] >= 1 && pads[0] >= 0 && pads[3] >= 0;
    if !(trivial_tail && first_ok) {
        return Err(unsupported(
            n,
            idx,
            &format!(
                "the 3-D window {kernel:?} with strides {strides:?} and pads {pads:?} (3-D windows only as k×1×1 with stride 1 and no padding on the last two axes)"
            ),
        ));
    }
    Ok(Window {
        kernel: Some([kernel[0] as usize, 1]),
        strides: [strides[0] as usize, 1],
        dilations: [dilations[0] as usize, 1],
        pads: [pads[0] as usize, 0, pads[3] as usize, 0],
        auto_pad: auto_pad(n, idx)?,
        ceil_mode: attr_i(n, "ceil_mode", 0) != 0,
        merged_tail: true,
    })
}

/// The integers of a constant input (axes, shapes).
pub(super) fn const_ints(
    l: &Loader,
    n: &NodeProto,
    idx: usize,
    input: &str,
    what: &str,
) -> Result<Vec<i64>> {
    l.raw_consts
        .get(input)
        .ok_or_else(|| unsupported(n, idx, &format!("its {what} '{input}' must be a constant")))?
        .to_i64()
}

/// Output `k` of a Split node as a node of its own (the engine's nodes have one output):
/// a slice of the input, along `axis`.
pub(super) fn split_part(n: &NodeProto, idx: usize, k: usize, l: &mut Loader) -> Result<Node> {
    let parts = n.output.len();
    let x =
        n.input.first().filter(|s| !s.is_empty()).ok_or_else(|| {
            EngineError::Model(format!("node '{}' has no input", node_label(n, idx)))
        })?;
    let split = if l.opset < 13 {
        attr_ints(n, "split")
    } else {
        match n.input.get(1).filter(|s| !s.is_empty()) {
            Some(s) => Some(const_ints(l, n, idx, s, "split")?),
            None => None,
        }
    };
    if let Some(num) = attr(n, "num_outputs") {
        if num.i != parts as i64 {
            return Err(EngineError::Model(format!(
                "node '{}': num_outputs {} but {parts} outputs",
                node_label(n, idx),
                num.i
            )));
        }
    }
    if split.as_ref().is_some_and(|s| s.len() != parts) {
        return Err(EngineError::Model(format!(
            "node '{}': {} split sizes for {parts} outputs",
            node_label(n, idx),
            split.as_ref().map_or(0, |s| s.len())
        )));
    }
    // A split of a constant (open_clip's attention pool splits its packed q, k, v bias):
    // the backends find the constant as f32.
    if !l.consts.contains_key(x.as_str()) && l.raw_consts.contains_key(x.as_str()) {
        if let Some(r) = l.f32(x) {
            r?;
        }
    }
    Ok(Node {
        name: node_label(n, idx),
        op_type: n.op_type.clone(),
        op: Op::SplitPart {
            axis: attr_i(n, "axis", 0),
            split,
            parts,
            index: k,
        },
        inputs: vec![x.clone()],
        output: n.output[k].clone(),
    })
}

pub(super) fn convert(n: &NodeProto, idx: usize, l: &mut Loader) -> Result<Node> {
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Err(unsupported(
            n,
            idx,
            &format!("operators of domain '{}' are not supported", n.domain),
        ));
    }
    let name = node_label(n, idx);
    let output = n
        .output
        .first()
        .cloned()
        .ok_or_else(|| EngineError::Model(format!("node '{name}' has no output")))?;
    let mut inputs: Vec<String> = n.input.clone();
    let input_n = |k: usize| n.input.get(k).filter(|s| !s.is_empty());
    let need_inputs = |k: usize| -> Result<()> {
        if (0..k).all(|i| input_n(i).is_some()) {
            Ok(())
        } else {
            Err(EngineError::Model(format!(
                "node '{name}' ({}) needs {k} inputs",
                n.op_type
            )))
        }
    };
    let const_of = |l: &mut Loader, k: usize, what: &str| -> Result<Tensor> {
        let i = &n.input[k];
        l.f32(i).unwrap_or_else(|| {
            Err(unsupported(
                n,
                idx,
                &format!("its {what} '{i}' must be a constant initializer"),
            ))
        })
    };
    let op = match n.op_type.as_str() {
        "Conv" => {
            need_inputs(2)?;
            let w = const_of(l, 1, "weights")?;
            if w.shape.len() != 4 {
                return Err(unsupported(
                    n,
                    idx,
                    &format!(
                        "weights of shape {:?} (only 2-D convolutions are supported)",
                        w.shape
                    ),
                ));
            }
            let win = window(n, idx, false)?;
            if let Some(k) = win.kernel {
                if k != [w.shape[2], w.shape[3]] {
                    return Err(EngineError::Model(format!(
                        "node '{name}': kernel_shape {k:?} disagrees with weights {:?}",
                        w.shape
                    )));
                }
            }
            let group = attr_i(n, "group", 1);
            if group < 1 {
                return Err(EngineError::Model(format!("node '{name}': group {group}")));
            }
            match input_n(2) {
                Some(b) => {
                    const_of(l, 2, "bias")?;
                    inputs = vec![inputs[0].clone(), inputs[1].clone(), b.clone()];
                }
                None => {
                    let b = format!("{output}::zero_bias");
                    l.consts.insert(b.clone(), Tensor::zeros(&[w.shape[0]]));
                    inputs = vec![inputs[0].clone(), inputs[1].clone(), b];
                }
            }
            Op::Conv {
                win,
                group: group as usize,
            }
        }
        "Relu" => Op::Unary(Unary::Relu),
        "Sigmoid" => Op::Unary(Unary::Sigmoid),
        "Erf" => Op::Unary(Unary::Erf),
        "Sqrt" => Op::Unary(Unary::Sqrt),
        "Tanh" => Op::Unary(Unary::Tanh),
        "Gelu" => Op::Unary(Unary::Gelu {
            tanh: match attr_s(n, "approximate").as_deref() {
                None | Some("none") => false,
                Some("tanh") => true,
                Some(other) => return Err(unsupported(n, idx, &format!("approximate '{other}'"))),
            },
        }),
        "Sub" | "Div" | "Pow" => {
            need_inputs(2)?;
            match n.op_type.as_str() {
                "Sub" => Op::Binary(Binary::Sub),
                "Div" => Op::Binary(Binary::Div),
                _ => Op::Binary(Binary::Pow),
            }
        }
        "Softmax" | "LogSoftmax" => {
            let legacy = l.opset < 13;
            Op::Softmax {
                axis: attr_i(n, "axis", if legacy { 1 } else { -1 }),
                log: n.op_type == "LogSoftmax",
                legacy,
            }
        }
        "LayerNormalization" => {
            need_inputs(2)?;
            if attr_i(n, "stash_type", 1) != 1 {
                return Err(unsupported(n, idx, "a stash_type other than float"));
            }
            const_of(l, 1, "scale")?;
            let b = match input_n(2) {
                Some(b) => {
                    const_of(l, 2, "bias")?;
                    b.clone()
                }
                None => {
                    let scale = const_of(l, 1, "scale")?;
                    let b = format!("{output}::zero_bias");
                    l.consts.insert(b.clone(), Tensor::zeros(&scale.shape));
                    b
                }
            };
            inputs = vec![inputs[0].clone(), inputs[1].clone(), b];
            Op::LayerNorm {
                axis: attr_i(n, "axis", -1),
                epsilon: attr_f(n, "epsilon", 1e-5),
            }
        }
        "ReduceMean" => {
            let axes = match input_n(1) {
                Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                None => attr_ints(n, "axes"),
            };
            inputs.truncate(1);
            Op::ReduceMean {
                axes,
                keepdims: attr_i(n, "keepdims", 1) != 0,
                noop: attr_i(n, "noop_with_empty_axes", 0) != 0,
            }
        }
        "Transpose" => Op::Transpose {
            perm: attr_ints(n, "perm"),
        },
        "Gather" => {
            need_inputs(2)?;
            let i = &n.input[1];
            let raw = l.raw_consts.get(i.as_str()).ok_or_else(|| {
                unsupported(n, idx, &format!("its indices '{i}' must be a constant"))
            })?;
            let indices = raw.to_i64()?;
            let indices_shape = raw.dims.iter().map(|&d| d.max(0) as usize).collect();
            inputs.truncate(1);
            Op::Gather {
                axis: attr_i(n, "axis", 0),
                indices,
                indices_shape,
            }
        }
        "Slice" => {
            let ints_at = |l: &Loader, k: usize, what: &str| -> Result<Option<Vec<i64>>> {
                match input_n(k) {
                    Some(i) => const_ints(l, n, idx, i, what).map(Some),
                    None => Ok(None),
                }
            };
            let (starts, ends, axes, steps) = if input_n(1).is_some() {
                (
                    ints_at(l, 1, "starts")?.unwrap_or_default(),
                    ints_at(l, 2, "ends")?.ok_or_else(|| {
                        EngineError::Model(format!("node '{name}': Slice without ends"))
                    })?,
                    ints_at(l, 3, "axes")?,
                    ints_at(l, 4, "steps")?,
                )
            } else {
                (
                    attr_ints(n, "starts").unwrap_or_default(),
                    attr_ints(n, "ends").unwrap_or_default(),
                    attr_ints(n, "axes"),
                    None,
                )
            };
            inputs.truncate(1);
            Op::Slice {
                starts,
                ends,
                axes,
                steps,
            }
        }
        "Squeeze" | "Unsqueeze" => {
            let axes = match input_n(1) {
                Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                None => attr_ints(n, "axes"),
            };
            inputs.truncate(1);
            if n.op_type == "Squeeze" {
                Op::Squeeze { axes }
            } else {
                Op::Unsqueeze {
                    axes: axes.ok_or_else(|| {
                        EngineError::Model(format!("node '{name}': Unsqueeze without axes"))
                    })?,
                }
            }
        }
        "Identity" => Op::Identity,
        "If" => return if_branch(n, idx, l),
        // A cast of a computed (float) tensor to float is no operation.
        "Cast" => match attr_i(n, "to", 0) {
            1 | 11 => Op::Identity,
            to => {
                return Err(unsupported(
                    n,
                    idx,
                    &format!("a cast of a computed tensor to ONNX type {to} (only to float)"),
                ))
            }
        },
        "Expand" => {
            need_inputs(2)?;
            let shape = const_ints(l, n, idx, &n.input[1], "shape")?;
            inputs.truncate(1);
            Op::Expand { shape }
        }
        "Pad" => {
            let mode = match attr_s(n, "mode").as_deref() {
                None | Some("constant") => PadMode::Constant,
                Some("edge") => PadMode::Edge,
                Some("reflect") => PadMode::Reflect,
                Some("wrap") => PadMode::Wrap,
                Some(other) => return Err(unsupported(n, idx, &format!("mode '{other}'"))),
            };
            let (pads, value, axes) = if l.opset < 11 {
                (
                    attr_ints(n, "pads").unwrap_or_default(),
                    attr_f(n, "value", 0.0),
                    None,
                )
            } else {
                need_inputs(2)?;
                let value = match input_n(2) {
                    Some(_) => const_of(l, 2, "constant_value")?
                        .data
                        .first()
                        .copied()
                        .unwrap_or(0.0),
                    None => 0.0,
                };
                let axes = match input_n(3) {
                    Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                    None => None,
                };
                (const_ints(l, n, idx, &n.input[1], "pads")?, value, axes)
            };
            inputs.truncate(1);
            Op::Pad {
                pads,
                axes,
                value,
                mode,
            }
        }
        "Where" => {
            need_inputs(3)?;
            Op::Where
        }
        "Dropout" => {
            if input_n(2).is_some() {
                let t = const_of(l, 2, "training_mode")?;
                if t.data.first().is_some_and(|&v| v != 0.0) {
                    return Err(unsupported(n, idx, "training mode"));
                }
            }
            inputs.truncate(1);
            Op::Identity
        }
        "Clip" => {
            let mut min = attr_f(n, "min", f32::MIN);
            let mut max = attr_f(n, "max", f32::MAX);
            if input_n(1).is_some() {
                min = const_of(l, 1, "min")?
                    .data
                    .first()
                    .copied()
                    .unwrap_or(f32::MIN);
            }
            if input_n(2).is_some() {
                max = const_of(l, 2, "max")?
                    .data
                    .first()
                    .copied()
                    .unwrap_or(f32::MAX);
            }
            inputs.truncate(1);
            Op::Unary(Unary::Clip { min, max })
        }
        "Add" | "Mul" => {
            need_inputs(2)?;
            if attr(n, "broadcast").is_some() {
                return Err(unsupported(n, idx, "the pre-opset-7 `broadcast` attribute"));
            }
            if n.op_type == "Add" {
                Op::Binary(Binary::Add)
            } else {
                Op::Binary(Binary::Mul)
            }
        }
        "MaxPool" => {
            if n.output.len() > 1 && !n.output[1].is_empty() {
                return Err(unsupported(n, idx, "the Indices output"));
            }
            if attr_i(n, "storage_order", 0) != 0 {
                return Err(unsupported(n, idx, "storage_order 1"));
            }
            Op::MaxPool(window(n, idx, true)?)
        }
        "AveragePool" => {
            let win = window(n, idx, true)?;
            if win.dilations != [1, 1] {
                return Err(unsupported(n, idx, "dilations"));
            }
            Op::AveragePool {
                win,
                count_include_pad: attr_i(n, "count_include_pad", 0) != 0,
            }
        }
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "LRN" => {
            let size = attr_i(n, "size", 0);
            if size < 1 {
                return Err(EngineError::Model(format!(
                    "node '{name}': LRN needs a positive size"
                )));
            }
            Op::Lrn {
                size: size as usize,
                alpha: attr_f(n, "alpha", 1e-4),
                beta: attr_f(n, "beta", 0.75),
                bias: attr_f(n, "bias", 1.0),
            }
        }
        "Concat" => Op::Concat {
            axis: attr_i(n, "axis", 1),
        },
        "BatchNormalization" => {
            need_inputs(5)?;
            if attr_i(n, "training_mode", 0) != 0 || n.output.len() > 1 {
                return Err(unsupported(n, idx, "training mode"));
            }
            let eps = attr_f(n, "epsilon", 1e-5);
            let gamma = const_of(l, 1, "scale")?;
            let beta = const_of(l, 2, "bias")?;
            let mean = const_of(l, 3, "mean")?;
            let var = const_of(l, 4, "var")?;
            let c = gamma.len();
            if [beta.len(), mean.len(), var.len()] != [c, c, c] {
                return Err(EngineError::Model(format!(
                    "node '{name}': BatchNormalization parameters differ in length"
                )));
            }
            let scale: Vec<f32> = (0..c)
                .map(|i| gamma.data[i] / (var.data[i] + eps).sqrt())
                .collect();
            let shift: Vec<f32> = (0..c)
                .map(|i| beta.data[i] - mean.data[i] * scale[i])
                .collect();
            let (sn, hn) = (format!("{output}::bn_scale"), format!("{output}::bn_shift"));
            l.consts.insert(
                sn.clone(),
                Tensor {
                    shape: vec![c],
                    data: scale,
                },
            );
            l.consts.insert(
                hn.clone(),
                Tensor {
                    shape: vec![c],
                    data: shift,
                },
            );
            inputs = vec![inputs[0].clone(), sn, hn];
            Op::BatchNorm
        }
        "Flatten" => Op::Flatten {
            axis: attr_i(n, "axis", 1),
        },
        "Reshape" => {
            let shape = if let Some(s) = input_n(1) {
                let raw = l.raw_consts.get(s.as_str()).ok_or_else(|| {
                    unsupported(n, idx, &format!("its shape '{s}' must be a constant"))
                })?;
                raw.to_i64()?
            } else if let Some(s) = attr_ints(n, "shape") {
                s
            } else {
                return Err(EngineError::Model(format!(
                    "node '{name}': Reshape without a shape"
                )));
            };
            inputs.truncate(1);
            Op::Reshape {
                shape,
                allowzero: attr_i(n, "allowzero", 0) != 0,
            }
        }
        "Gemm" => {
            need_inputs(2)?;
            inputs.truncate(if input_n(2).is_some() { 3 } else { 2 });
            Op::Gemm {
                alpha: attr_f(n, "alpha", 1.0),
                beta: attr_f(n, "beta", 1.0),
                trans_a: attr_i(n, "transA", 0) != 0,
                trans_b: attr_i(n, "transB", 0) != 0,
            }
        }
        "MatMul" => {
            need_inputs(2)?;
            Op::MatMul
        }
        _ => return Err(unsupported(n, idx, "")),
    };
    // Load every constant this node reads, so the backends find them as f32.
    for i in &inputs {
        if !l.consts.contains_key(i) && l.raw_consts.contains_key(i) {
            if let Some(r) = l.f32(i) {
                r?;
            }
        }
    }
    if inputs.iter().any(|i| i.is_empty()) {
        return Err(unsupported(
            n,
            idx,
            "an omitted optional input in this position",
        ));
    }
    Ok(Node {
        name,
        op_type: n.op_type.clone(),
        op,
        inputs,
        output,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::LoadOptions;

    fn converts(op_type: &str) -> bool {
        let n = NodeProto {
            op_type: op_type.into(),
            output: vec!["y".into()],
            ..Default::default()
        };
        let mut l = Loader {
            opset: 13,
            limits: LoadOptions::default(),
            raw_consts: HashMap::new(),
            consts: HashMap::new(),
        };
        // Without inputs most refuse, but only an unknown operator has no detail.
        !matches!(
            convert(&n, 0, &mut l),
            Err(EngineError::UnsupportedOp { detail, .. }) if detail.is_empty()
        )
    }

    /// [`COMPUTED`] is what `convert` accepts (Split is converted by `split_part`).
    #[test]
    fn the_list_of_computed_operators_is_what_convert_accepts() {
        for op in COMPUTED.iter().filter(|&&op| op != "Split") {
            assert!(converts(op), "{op} is listed but not converted");
        }
        for op in ["Mod", "Resize", "Einsum", "Loop", "Constant"] {
            assert!(!converts(op), "{op} converts but is not listed");
        }
    }
}
