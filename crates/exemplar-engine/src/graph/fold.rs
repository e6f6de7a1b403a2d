//! The constant folder: evaluates a node whose inputs are all known (initializers,
//! Constant outputs, values folded before it, or for `Shape`/`Size` the input's shape),
//! on integers (i64) or floats, so that exporters' shape arithmetic becomes constants.
//!
//! Values are held as f64: every integer a shape computation meets is exact (up to 2^53),
//! INT64_MAX and INT64_MIN (Slice's "to the end") round to ±2^63 and convert back
//! saturated, and float results are rounded to f32 as ONNX float arithmetic would be.
//! Data movement (Reshape, Gather, Slice, Concat, Transpose, Expand, Pad, …) reuses the
//! node conversion and shape inference of the runtime operators, with the generic copies
//! below, which the CPU backend shares.

use super::convert::{attr, attr_i, convert, node_label, unsupported};
use super::import::Loader;
use super::{out_shape, pad_dims, slice_dims, transpose_perm, Op, PadMode};
use crate::onnx::{NodeProto, TensorProto, DOUBLE, FLOAT};
use crate::tensor::{broadcast_pairs, broadcast_shape, broadcast_strides, strides};
use crate::{EngineError, Result};

/// Operators the folder evaluates when all their inputs are known (the README lists
/// them, checked by `tests/operators.rs`).
pub const FOLDABLE: &[&str] = &[
    "Shape",
    "Size",
    "ConstantOfShape",
    "Cast",
    "Range",
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Gather",
    "Slice",
    "Transpose",
    "Expand",
    "Pad",
    "Where",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "Not",
    "And",
    "Or",
    "Xor",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Mod",
    "Pow",
    "Min",
    "Max",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Sqrt",
];

/// Whether the folder evaluates `n` once its inputs are known.
pub(super) fn is_foldable(n: &NodeProto) -> bool {
    (n.domain.is_empty() || n.domain == "ai.onnx") && FOLDABLE.contains(&n.op_type.as_str())
}

/// Whether `n` reads only its input's shape (it folds once that shape is known).
pub(super) fn reads_shape_only(n: &NodeProto) -> bool {
    matches!(n.op_type.as_str(), "Shape" | "Size")
}

/// A folded tensor: integers (also booleans, as 0 and 1) or floats.
#[derive(Clone, Debug)]
pub(super) struct Value {
    shape: Vec<usize>,
    data: Vec<f64>,
    int: bool,
}

impl Value {
    fn from_proto(t: &TensorProto) -> Result<Value> {
        if matches!(t.data_type, FLOAT | DOUBLE) {
            let f = t.to_f32()?;
            return Ok(Value {
                shape: f.shape,
                data: f.data.iter().map(|&v| f64::from(v)).collect(),
                int: false,
            });
        }
        let data = t.to_i64()?;
        Ok(Value {
            shape: t.dims.iter().map(|&d| d.max(0) as usize).collect(),
            data: data.iter().map(|&v| v as f64).collect(),
            int: true,
        })
    }

    /// The value as a tensor of the model (INT64 or FLOAT).
    pub fn to_proto(&self, name: &str) -> TensorProto {
        if self.int {
            let v: Vec<i64> = self.data.iter().map(|&v| v as i64).collect();
            TensorProto::from_i64(name, &self.shape, &v)
        } else {
            let v: Vec<f32> = self.data.iter().map(|&v| v as f32).collect();
            TensorProto::from_f32(name, &self.shape, &v)
        }
    }

    fn ints(shape: Vec<usize>, data: Vec<f64>) -> Value {
        Value {
            shape,
            data,
            int: true,
        }
    }

    fn scalar(&self, n: &NodeProto, idx: usize) -> Result<f64> {
        match self.data.as_slice() {
            [v] => Ok(*v),
            _ => Err(unsupported(
                n,
                idx,
                &format!("a scalar input of shape {:?}", self.shape),
            )),
        }
    }

    /// Rounds a float result to f32, as the model's float arithmetic would.
    fn rounded(mut self) -> Value {
        if !self.int {
            self.data.iter_mut().for_each(|v| *v = f64::from(*v as f32));
        }
        self
    }
}

/// Evaluates `n`. `shape_of` gives the shape of a tensor computed from the input (for
/// `Shape` and `Size`); constants' shapes come from the constants.
pub(super) fn fold(
    n: &NodeProto,
    idx: usize,
    l: &mut Loader,
    shape_of: &dyn Fn(&str) -> Option<Vec<usize>>,
) -> Result<Value> {
    let input = |k: usize| -> Result<&str> {
        n.input
            .get(k)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                EngineError::Model(format!("node '{}' ({}) lacks input {k}", n.name, n.op_type))
            })
    };
    let get = |l: &Loader, k: usize| -> Result<Value> { value(l, input(k)?, n, idx) };
    let inputs = |l: &Loader| -> Result<Vec<Value>> {
        n.input
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| value(l, s, n, idx))
            .collect()
    };
    let bool_of = |b: bool| f64::from(u8::from(b));
    // Every folded value's shape is held to the per-tensor cap before it is allocated.
    let limits = l.limits;
    let check = |shape: &[usize]| -> Result<usize> {
        limits.elements(shape, || {
            format!(
                "tensor '{}' (output of node '{}', {})",
                n.output.first().map_or("", |s| s.as_str()),
                node_label(n, idx),
                n.op_type
            )
        })
    };
    Ok(match n.op_type.as_str() {
        "Shape" | "Size" => {
            let x = input(0)?;
            let s = shape_of(x)
                .or_else(|| value(l, x, n, idx).ok().map(|v| v.shape))
                .ok_or_else(|| EngineError::Model(format!("the shape of '{x}' is not known")))?;
            if n.op_type == "Size" {
                Value::ints(vec![], vec![s.iter().product::<usize>() as f64])
            } else {
                let r = s.len() as i64;
                let at = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (a, b) = (at(attr_i(n, "start", 0)), at(attr_i(n, "end", r)));
                let dims: Vec<f64> = s[a..b.max(a)].iter().map(|&d| d as f64).collect();
                Value::ints(vec![dims.len()], dims)
            }
        }
        "ConstantOfShape" => {
            let shape = get(l, 0)?
                .data
                .iter()
                .map(|&d| usize::try_from(d as i64))
                .collect::<std::result::Result<Vec<usize>, _>>()
                .map_err(|_| unsupported(n, idx, "a negative shape"))?;
            let fill = match attr(n, "value").and_then(|a| a.t.as_ref()) {
                Some(t) => Value::from_proto(t)?,
                None => Value {
                    shape: vec![1],
                    data: vec![0.0],
                    int: false,
                },
            };
            let v = fill.data.first().copied().unwrap_or(0.0);
            Value {
                data: vec![v; check(&shape)?],
                shape,
                int: fill.int,
            }
        }
        "Cast" => {
            let x = get(l, 0)?;
            match attr_i(n, "to", 0) {
                // float, double (computed as f32 downstream anyway)
                1 | 11 => Value { int: false, ..x }.rounded(),
                // bool
                9 => Value::ints(x.shape, x.data.iter().map(|&v| bool_of(v != 0.0)).collect()),
                // the integer types
                2..=7 | 12 | 13 => Value::ints(x.shape, x.data.iter().map(|v| v.trunc()).collect()),
                to => return Err(unsupported(n, idx, &format!("a cast to ONNX type {to}"))),
            }
        }
        "Range" => {
            let (start, limit, delta) = (get(l, 0)?, get(l, 1)?, get(l, 2)?);
            let int = start.int;
            let (s, e, d) = (
                start.scalar(n, idx)?,
                limit.scalar(n, idx)?,
                delta.scalar(n, idx)?,
            );
            if d == 0.0 {
                return Err(unsupported(n, idx, "a delta of 0"));
            }
            // Saturating: an infinite or huge count is refused by the cap.
            let count = ((e - s) / d).ceil().max(0.0) as usize;
            check(&[count])?;
            Value {
                shape: vec![count],
                data: (0..count).map(|i| s + i as f64 * d).collect(),
                int,
            }
            .rounded()
        }
        "Not" | "Neg" | "Abs" | "Floor" | "Ceil" | "Sqrt" => {
            let x = get(l, 0)?;
            let f: fn(f64) -> f64 = match n.op_type.as_str() {
                "Not" => |v| f64::from(u8::from(v == 0.0)),
                "Neg" => |v| -v,
                "Abs" => f64::abs,
                "Floor" => f64::floor,
                "Ceil" => f64::ceil,
                _ => f64::sqrt,
            };
            Value {
                data: x.data.iter().map(|&v| f(v)).collect(),
                ..x
            }
            .rounded()
        }
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Pow" | "Min" | "Max" | "Equal" | "Less"
        | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            let vals = inputs(l)?;
            let Some(first) = vals.first() else {
                return Err(unsupported(n, idx, "no inputs"));
            };
            let int = first.int;
            let compare = matches!(
                n.op_type.as_str(),
                "Equal"
                    | "Less"
                    | "Greater"
                    | "LessOrEqual"
                    | "GreaterOrEqual"
                    | "And"
                    | "Or"
                    | "Xor"
            );
            let f: Box<dyn Fn(f64, f64) -> Result<f64>> = match n.op_type.as_str() {
                "Add" => Box::new(|a, b| Ok(a + b)),
                "Sub" => Box::new(|a, b| Ok(a - b)),
                "Mul" => Box::new(|a, b| Ok(a * b)),
                "Div" if int => Box::new(|a, b| {
                    if b == 0.0 {
                        Err(EngineError::Model("integer division by zero".into()))
                    } else {
                        Ok((a / b).trunc())
                    }
                }),
                "Div" => Box::new(|a, b| Ok(a / b)),
                "Mod" => {
                    // fmod 1: C's fmod (the sign of the dividend); 0: the sign of the divisor.
                    let fmod = attr_i(n, "fmod", 0) != 0;
                    Box::new(move |a, b| {
                        if int && b == 0.0 {
                            return Err(EngineError::Model("integer modulo by zero".into()));
                        }
                        let r = a % b;
                        Ok(if !fmod && r != 0.0 && (r < 0.0) != (b < 0.0) {
                            r + b
                        } else {
                            r
                        })
                    })
                }
                "Pow" => Box::new(|a, b| Ok(a.powf(b))),
                "Min" => Box::new(|a, b| Ok(a.min(b))),
                "Max" => Box::new(|a, b| Ok(a.max(b))),
                "Equal" => Box::new(move |a, b| Ok(bool_of(a == b))),
                "Less" => Box::new(move |a, b| Ok(bool_of(a < b))),
                "Greater" => Box::new(move |a, b| Ok(bool_of(a > b))),
                "LessOrEqual" => Box::new(move |a, b| Ok(bool_of(a <= b))),
                "GreaterOrEqual" => Box::new(move |a, b| Ok(bool_of(a >= b))),
                "And" => Box::new(move |a, b| Ok(bool_of(a != 0.0 && b != 0.0))),
                "Xor" => Box::new(move |a, b| Ok(bool_of((a != 0.0) != (b != 0.0)))),
                _ => Box::new(move |a, b| Ok(bool_of(a != 0.0 || b != 0.0))),
            };
            // Min and Max take any number of inputs; the others two.
            let mut acc = first.clone();
            for v in &vals[1..] {
                let shape = broadcast_shape(&acc.shape, &v.shape).ok_or_else(|| {
                    unsupported(
                        n,
                        idx,
                        &format!(
                            "inputs {:?} and {:?} that do not broadcast",
                            acc.shape, v.shape
                        ),
                    )
                })?;
                check(&shape)?;
                let data = broadcast_pairs(&acc.shape, &v.shape, &shape)
                    .map(|(ia, ib)| f(acc.data[ia], v.data[ib]))
                    .collect::<Result<Vec<f64>>>()?;
                acc = Value { shape, data, int };
            }
            if compare {
                acc.int = true;
            }
            acc.rounded()
        }
        "Where" => {
            let (c, x, y) = (get(l, 0)?, get(l, 1)?, get(l, 2)?);
            let shape = broadcast_shape(&c.shape, &x.shape)
                .and_then(|s| broadcast_shape(&s, &y.shape))
                .ok_or_else(|| unsupported(n, idx, "inputs that do not broadcast"))?;
            check(&shape)?;
            let data = where_copy(
                &c.data,
                &c.shape,
                &x.data,
                &x.shape,
                &y.data,
                &y.shape,
                &shape,
                |v| *v != 0.0,
            );
            Value {
                shape,
                data,
                int: x.int,
            }
        }
        // Data movement: the runtime operator's conversion and shape inference.
        _ => {
            let node = convert(n, idx, l)?;
            let vals: Vec<Value> = node
                .inputs
                .iter()
                .map(|s| value(l, s, n, idx))
                .collect::<Result<_>>()?;
            let shapes: Vec<&[usize]> = vals.iter().map(|v| v.shape.as_slice()).collect();
            let out = out_shape(&node, &shapes)?;
            check(&out)?;
            let x = &vals[0];
            let data = match &node.op {
                op if op.is_view() => x.data.clone(),
                Op::Transpose { perm } => {
                    let p = transpose_perm(perm.as_deref(), x.shape.len())?;
                    let sx = strides(&x.shape);
                    let src: Vec<i64> = p.iter().map(|&a| sx[a] as i64).collect();
                    strided(&x.data, &out, &src, 0)
                }
                Op::Slice { .. } | Op::SplitPart { .. } => {
                    let dims = slice_dims(&node, &x.shape)?;
                    let sx = strides(&x.shape);
                    let src: Vec<i64> =
                        dims.iter().zip(&sx).map(|(d, &s)| d.1 * s as i64).collect();
                    let base = dims.iter().zip(&sx).map(|(d, &s)| d.0 * s as i64).sum();
                    strided(&x.data, &out, &src, base)
                }
                Op::Expand { .. } => {
                    let src: Vec<i64> = broadcast_strides(&x.shape, &out)
                        .iter()
                        .map(|&s| s as i64)
                        .collect();
                    strided(&x.data, &out, &src, 0)
                }
                Op::Gather { axis, indices, .. } => {
                    let a = super::concat_axis(*axis, x.shape.len())?;
                    let idx = super::gather_indices(indices, x.shape[a])?;
                    gather_copy(&x.data, &x.shape, a, &idx)
                }
                Op::Concat { axis } => {
                    let a = super::concat_axis(*axis, x.shape.len())?;
                    let parts: Vec<(&[f64], &[usize])> = vals
                        .iter()
                        .map(|v| (v.data.as_slice(), v.shape.as_slice()))
                        .collect();
                    concat_copy(&parts, a)
                }
                Op::Pad {
                    pads,
                    axes,
                    value,
                    mode,
                } => {
                    let (begins, _) = pad_dims(pads, axes.as_deref(), *mode, &x.shape)?;
                    pad_copy(&x.data, &x.shape, &begins, &out, *mode, f64::from(*value))
                }
                _ => return Err(unsupported(n, idx, "folding this operator")),
            };
            Value {
                shape: out,
                data,
                int: x.int,
            }
        }
    })
}

/// A constant by name: as in the file or folded, else as f32.
fn value(l: &Loader, name: &str, n: &NodeProto, idx: usize) -> Result<Value> {
    if let Some(t) = l.raw_consts.get(name) {
        return Value::from_proto(t);
    }
    if let Some(t) = l.consts.get(name) {
        return Ok(Value {
            shape: t.shape.clone(),
            data: t.data.iter().map(|&v| f64::from(v)).collect(),
            int: false,
        });
    }
    Err(unsupported(
        n,
        idx,
        &format!("its input '{name}' is not a constant"),
    ))
}

/// `y[i] = x[base + Σ_d coordinate_d(i) · src_d]` over the output shape `out`: Transpose,
/// Slice and Expand as strided copies.
pub(crate) fn strided<T: Copy>(x: &[T], out: &[usize], src: &[i64], base: i64) -> Vec<T> {
    let so = strides(out);
    let total: usize = out.iter().product();
    (0..total)
        .map(|i| {
            let at: i64 = (0..out.len())
                .map(|d| ((i / so[d]) % out[d]) as i64 * src[d])
                .sum::<i64>()
                + base;
            x[at as usize]
        })
        .collect()
}

/// Pad: `begins[d]` values before axis d (negative: cropped), the rest after, to `out`.
pub(crate) fn pad_copy<T: Copy>(
    x: &[T],
    shape: &[usize],
    begins: &[i64],
    out: &[usize],
    mode: PadMode,
    value: T,
) -> Vec<T> {
    let (sx, so) = (strides(shape), strides(out));
    let total: usize = out.iter().product();
    (0..total)
        .map(|i| {
            let mut at = 0usize;
            for d in 0..out.len() {
                let n = shape[d] as i64;
                let mut c = ((i / so[d]) % out[d]) as i64 - begins[d];
                if c < 0 || c >= n {
                    match mode {
                        PadMode::Constant => return value,
                        PadMode::Edge => c = c.clamp(0, n - 1),
                        PadMode::Reflect if n == 1 => c = 0,
                        PadMode::Reflect => {
                            let m = 2 * (n - 1);
                            c = c.rem_euclid(m);
                            if c >= n {
                                c = m - c;
                            }
                        }
                        // Around what cropping keeps of the axis (as ONNX's reference
                        // does: crop first, then pad).
                        PadMode::Wrap => {
                            let lo = (-begins[d]).max(0);
                            let hi = n.min(out[d] as i64 - begins[d]);
                            c = lo + (c - lo).rem_euclid((hi - lo).max(1));
                        }
                    }
                }
                at += c as usize * sx[d];
            }
            x[at]
        })
        .collect()
}

/// Gather along axis `a` of `shape` with resolved indices.
pub(crate) fn gather_copy<T: Copy>(x: &[T], shape: &[usize], a: usize, idx: &[usize]) -> Vec<T> {
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    let mut data = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &k in idx {
            let start = (o * shape[a] + k) * inner;
            data.extend_from_slice(&x[start..start + inner]);
        }
    }
    data
}

/// Concat along axis `a`.
pub(crate) fn concat_copy<T: Copy>(parts: &[(&[T], &[usize])], a: usize) -> Vec<T> {
    let outer: usize = parts.first().map_or(0, |p| p.1[..a].iter().product());
    let mut data = Vec::new();
    for o in 0..outer {
        for (d, s) in parts {
            let chunk: usize = s[a..].iter().product();
            data.extend_from_slice(&d[o * chunk..(o + 1) * chunk]);
        }
    }
    data
}

/// Where: `cond(c)` picks x, else y, all broadcast to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn where_copy<C, T: Copy>(
    c: &[C],
    cs: &[usize],
    x: &[T],
    xs: &[usize],
    y: &[T],
    ys: &[usize],
    out: &[usize],
    cond: impl Fn(&C) -> bool,
) -> Vec<T> {
    let (sc, sx, sy, so) = (
        broadcast_strides(cs, out),
        broadcast_strides(xs, out),
        broadcast_strides(ys, out),
        strides(out),
    );
    let total: usize = out.iter().product();
    (0..total)
        .map(|i| {
            let (mut ic, mut ix, mut iy) = (0, 0, 0);
            for d in 0..out.len() {
                let k = (i / so[d]) % out[d];
                ic += k * sc[d];
                ix += k * sx[d];
                iy += k * sy[d];
            }
            if cond(&c[ic]) {
                x[ix]
            } else {
                y[iy]
            }
        })
        .collect()
}
