//! Shape inference: the output shape of every operator for given input shapes, and the
//! checked helpers (axes, Slice/Split, Gemm/MatMul, Pad, Reshape) that the CPU and GPU
//! paths share.

use super::*;

fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize > rank {
        return Err(EngineError::Input(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(a as usize)
}

/// Concat's axis, resolved.
pub(crate) fn concat_axis(axis: i64, rank: usize) -> Result<usize> {
    let a = norm_axis(axis, rank)?;
    if a == rank {
        return Err(EngineError::Input(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(a)
}

/// Softmax's (outer, length, inner): the values of one softmax are `length` values
/// `inner` apart.
pub(crate) fn softmax_dims(axis: i64, legacy: bool, x: &[usize]) -> Result<(usize, usize, usize)> {
    let a = concat_axis(axis, x.len())?;
    let outer = x[..a].iter().product();
    Ok(if legacy {
        (outer, x[a..].iter().product(), 1)
    } else {
        (outer, x[a], x[a + 1..].iter().product())
    })
}

/// LayerNormalization's (rows, values per row).
pub(crate) fn layer_norm_dims(axis: i64, x: &[usize]) -> Result<(usize, usize)> {
    let a = concat_axis(axis, x.len())?;
    Ok((x[..a].iter().product(), x[a..].iter().product()))
}

/// Which axes a reduction folds (`axes` as in the node; `None` or empty: all, unless
/// `noop`).
pub(crate) fn reduced_axes(axes: Option<&[i64]>, noop: bool, rank: usize) -> Result<Vec<bool>> {
    match axes {
        None | Some([]) => Ok(vec![!noop; rank]),
        Some(axes) => {
            let mut r = vec![false; rank];
            for &a in axes {
                r[concat_axis(a, rank)?] = true;
            }
            Ok(r)
        }
    }
}

/// Transpose's permutation, checked (`None`: the axes reversed).
pub(crate) fn transpose_perm(perm: Option<&[i64]>, rank: usize) -> Result<Vec<usize>> {
    let Some(perm) = perm else {
        return Ok((0..rank).rev().collect());
    };
    let p: Vec<usize> = perm
        .iter()
        .map(|&a| concat_axis(a, rank))
        .collect::<Result<_>>()?;
    let mut seen = vec![false; rank];
    if p.len() != rank || p.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
        return Err(EngineError::Input(format!(
            "Transpose perm {perm:?} is not a permutation of {rank} axes"
        )));
    }
    Ok(p)
}

/// Slice (or one output of Split) per axis of `x`: (first index, step, count).
pub(crate) fn slice_dims(n: &Node, x: &[usize]) -> Result<Vec<(i64, i64, usize)>> {
    if let Op::SplitPart {
        axis,
        split,
        parts,
        index,
    } = &n.op
    {
        return split_dims(*axis, split.as_deref(), *parts, *index, x);
    }
    let Op::Slice {
        starts,
        ends,
        axes,
        steps,
    } = &n.op
    else {
        return Err(EngineError::Model(format!(
            "node '{}' is not a Slice",
            n.name
        )));
    };
    let mut out: Vec<(i64, i64, usize)> = x.iter().map(|&d| (0, 1, d)).collect();
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| concat_axis(a, x.len()))
            .collect::<Result<_>>()?,
        None if starts.len() > x.len() => {
            return Err(EngineError::Input(format!(
                "Slice '{}': {} starts for an input of {} axes {x:?}",
                n.name,
                starts.len(),
                x.len()
            )))
        }
        None => (0..starts.len()).collect(),
    };
    if starts.len() != ends.len()
        || axes.len() != starts.len()
        || steps.as_ref().is_some_and(|s| s.len() != starts.len())
    {
        return Err(EngineError::Input(format!(
            "Slice '{}': starts, ends, axes and steps differ in length",
            n.name
        )));
    }
    for (k, &a) in axes.iter().enumerate() {
        let dim = x.get(a).copied().unwrap_or(0) as i64;
        let step = steps.as_ref().map_or(1, |s| s[k]);
        if step == 0 {
            return Err(EngineError::Input(format!("Slice '{}': step 0", n.name)));
        }
        if step == i64::MIN {
            return Err(EngineError::Input(format!(
                "Slice '{}': step {step} is out of range",
                n.name
            )));
        }
        if dim == 0 {
            out[a] = (0, step, 0);
            continue;
        }
        let wrap = |v: i64| if v < 0 { v + dim } else { v };
        let (start, end) = if step > 0 {
            (wrap(starts[k]).clamp(0, dim), wrap(ends[k]).clamp(0, dim))
        } else {
            (
                wrap(starts[k]).clamp(0, dim - 1),
                wrap(ends[k]).clamp(-1, dim - 1),
            )
        };
        let count = if step > 0 {
            (end - start).max(0).div_euclid(step) + i64::from((end - start).max(0) % step != 0)
        } else {
            (start - end).max(0).div_euclid(-step) + i64::from((start - end).max(0) % -step != 0)
        };
        out[a] = (start, step, count as usize);
    }
    Ok(out)
}

/// One output of Split as a slice: (first index, step, count) per axis of `x`.
fn split_dims(
    axis: i64,
    split: Option<&[i64]>,
    parts: usize,
    index: usize,
    x: &[usize],
) -> Result<Vec<(i64, i64, usize)>> {
    let a = concat_axis(axis, x.len())?;
    let len = x[a];
    let (start, count) = match split {
        Some(s) => {
            let sum = s.iter().try_fold(0i64, |acc, &v| acc.checked_add(v));
            if s.len() != parts || s.iter().any(|&v| v < 0) || sum != Some(len as i64) {
                return Err(EngineError::Input(format!(
                    "Split sizes {s:?} do not divide axis {a} of {x:?} into {parts} parts"
                )));
            }
            (s[..index].iter().sum::<i64>() as usize, s[index] as usize)
        }
        None => {
            let each = len.div_ceil(parts.max(1));
            let start = (index * each).min(len);
            (start, each.min(len - start))
        }
    };
    let mut out: Vec<(i64, i64, usize)> = x.iter().map(|&d| (0, 1, d)).collect();
    out[a] = (start as i64, 1, count);
    Ok(out)
}

/// Gather's indices resolved against an axis of `len` values (negative counts from the end).
pub(crate) fn gather_indices(indices: &[i64], len: usize) -> Result<Vec<usize>> {
    indices
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + len as i64 } else { i };
            if j < 0 || j >= len as i64 {
                Err(EngineError::Input(format!(
                    "Gather index {i} is out of range for an axis of {len}"
                )))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

/// Gemm's (M, K, N), checking that A and B agree.
pub(crate) fn gemm_dims(
    a: &[usize],
    b: &[usize],
    trans_a: bool,
    trans_b: bool,
) -> Result<(usize, usize, usize)> {
    let (&[a0, a1], &[b0, b1]) = (a, b) else {
        return Err(EngineError::Input(format!(
            "Gemm needs 2-D inputs, got {a:?} and {b:?}"
        )));
    };
    let (m, k) = if trans_a { (a1, a0) } else { (a0, a1) };
    let (k2, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    if k != k2 {
        return Err(EngineError::Input(format!(
            "Gemm inner sizes differ: {a:?} and {b:?}"
        )));
    }
    Ok((m, k, n))
}

/// MatMul's output shape, broadcast batch shape, M, K and N.
pub(crate) type MatMulDims = (Vec<usize>, Vec<usize>, usize, usize, usize);

/// MatMul's dimensions after promoting 1-D operands as numpy does.
pub(crate) fn matmul_dims(a: &[usize], b: &[usize]) -> Result<MatMulDims> {
    if a.is_empty() || b.is_empty() {
        return Err(EngineError::Input(
            "MatMul needs operands of rank at least 1".into(),
        ));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(EngineError::Input(format!(
            "MatMul inner sizes differ: {a:?} and {b:?}"
        )));
    }
    let batch = crate::tensor::broadcast_shape(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
        .ok_or_else(|| {
            EngineError::Input(format!(
                "MatMul batch axes do not broadcast: {a:?} and {b:?}"
            ))
        })?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok((out, batch, m, k, n))
}

/// Pad's first index per axis (negative: cropped) and output shape.
pub(crate) fn pad_dims(
    pads: &[i64],
    axes: Option<&[i64]>,
    mode: PadMode,
    x: &[usize],
) -> Result<(Vec<i64>, Vec<usize>)> {
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| concat_axis(a, x.len()))
            .collect::<Result<_>>()?,
        None => (0..x.len()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(EngineError::Input(format!(
            "Pad has {} pads for {} axes of {x:?}",
            pads.len(),
            axes.len()
        )));
    }
    let mut begins = vec![0i64; x.len()];
    let mut out: Vec<usize> = x.to_vec();
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        let size = (x[a] as i64)
            .checked_add(b)
            .and_then(|v| v.checked_add(e))
            .ok_or_else(|| EngineError::Limit(format!("Pad {pads:?} of {x:?} overflows")))?;
        if size < 0 || (x[a] == 0 && mode != PadMode::Constant && size > 0) {
            return Err(EngineError::Input(format!(
                "Pad {pads:?} does not fit {x:?}"
            )));
        }
        begins[a] = b;
        out[a] = size as usize;
    }
    Ok((begins, out))
}

/// Reshape's output shape (ONNX semantics of 0 and -1).
pub(crate) fn reshape_shape(x: &[usize], shape: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total: usize = x.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*x.get(i).ok_or_else(|| {
                EngineError::Input(format!(
                    "Reshape copies axis {i} of {x:?}, which has no such axis"
                ))
            })?),
            d if d >= 0 => out.push(d as usize),
            _ => {
                return Err(EngineError::Input(format!(
                    "Reshape to {shape:?} is invalid"
                )))
            }
        }
    }
    let known: usize = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            EngineError::Limit(format!(
                "Reshape of {x:?} to {shape:?}: the product of the dimensions overflows"
            ))
        })?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(EngineError::Input(format!(
                "cannot reshape {x:?} to {shape:?}"
            )));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(EngineError::Input(format!(
            "cannot reshape {x:?} ({total} values) to {shape:?}"
        )));
    }
    Ok(out)
}

/// The output shape of a node for the given input shapes.
pub(crate) fn out_shape(n: &Node, ins: &[&[usize]]) -> Result<Vec<usize>> {
    // A file may give a node fewer inputs than its operator reads.
    let needs = match &n.op {
        Op::Where | Op::LayerNorm { .. } => 3,
        Op::Conv { .. } | Op::Binary(_) | Op::Gemm { .. } | Op::MatMul => 2,
        _ => 1,
    };
    if ins.len() < needs {
        return Err(EngineError::Model(format!(
            "node '{}' has {} inputs, its operator needs {needs}",
            n.name,
            ins.len()
        )));
    }
    let x = ins[0];
    Ok(match &n.op {
        Op::Conv { win, group } => {
            let w = ins[1];
            if w.len() != 4 || x.len() != 4 {
                return Err(EngineError::Input(format!(
                    "Conv needs 4-D input and weights, got {x:?} and {w:?}"
                )));
            }
            if Some(x[1]) != w[1].checked_mul(*group) || !w[0].is_multiple_of(*group) {
                return Err(EngineError::Input(format!(
                    "Conv input {x:?} does not fit weights {w:?} with group {group}"
                )));
            }
            if ins
                .get(2)
                .is_some_and(|b| b.iter().product::<usize>() != w[0])
            {
                return Err(EngineError::Input(format!(
                    "Conv bias {:?} does not fit weights {w:?}",
                    ins[2]
                )));
            }
            let g = win.geom(x, [w[2], w[3]])?;
            // Each output reads C/group channels of its window.
            g.check_work(w[0].saturating_mul(w[1]), "Conv")?;
            vec![g.n, w[0], g.oh, g.ow]
        }
        Op::Unary(_) | Op::Identity => x.to_vec(),
        Op::Lrn { .. } | Op::BatchNorm => {
            let c = x.get(1).copied();
            let fits = c.is_some()
                && ins[1..]
                    .iter()
                    .all(|p| Some(p.iter().product::<usize>()) == c);
            if !fits {
                return Err(EngineError::Input(format!(
                    "{} needs an input with channels on axis 1 (and one parameter per channel), got {x:?}",
                    n.op_type
                )));
            }
            x.to_vec()
        }
        Op::Softmax { axis, legacy, .. } => {
            softmax_dims(*axis, *legacy, x)?;
            x.to_vec()
        }
        Op::LayerNorm { axis, .. } => {
            let (_, len) = layer_norm_dims(*axis, x)?;
            for (what, p) in [("scale", ins[1]), ("bias", ins[2])] {
                let plen: usize = p.iter().product();
                let suffix = x.len() >= p.len()
                    && p.iter().zip(&x[x.len() - p.len()..]).all(|(a, b)| a == b)
                    && len % plen.max(1) == 0;
                if !suffix {
                    return Err(EngineError::Input(format!(
                        "LayerNormalization {what} {p:?} does not fit the normalised axes of {x:?}"
                    )));
                }
            }
            x.to_vec()
        }
        Op::Binary(_) => crate::tensor::broadcast_shape(x, ins[1]).ok_or_else(|| {
            EngineError::Input(format!("shapes {x:?} and {:?} do not broadcast", ins[1]))
        })?,
        Op::ReduceMean {
            axes,
            keepdims,
            noop,
        } => {
            let r = reduced_axes(axes.as_deref(), *noop, x.len())?;
            x.iter()
                .zip(&r)
                .filter_map(|(&d, &red)| match (red, keepdims) {
                    (false, _) => Some(d),
                    (true, true) => Some(1),
                    (true, false) => None,
                })
                .collect()
        }
        Op::Transpose { perm } => {
            let p = transpose_perm(perm.as_deref(), x.len())?;
            p.iter().map(|&a| x[a]).collect()
        }
        Op::Gather {
            axis,
            indices,
            indices_shape,
        } => {
            let a = concat_axis(*axis, x.len())?;
            gather_indices(indices, x[a])?;
            let mut s = x[..a].to_vec();
            s.extend(indices_shape);
            s.extend(&x[a + 1..]);
            s
        }
        Op::Slice { .. } | Op::SplitPart { .. } => slice_dims(n, x)?.iter().map(|d| d.2).collect(),
        Op::Squeeze { axes } => match axes {
            None => x.iter().copied().filter(|&d| d != 1).collect(),
            Some(axes) => {
                let mut drop = vec![false; x.len()];
                for &a in axes {
                    let a = concat_axis(a, x.len())?;
                    if x[a] != 1 {
                        return Err(EngineError::Input(format!(
                            "Squeeze of axis {a} of {x:?}, which is not 1"
                        )));
                    }
                    drop[a] = true;
                }
                x.iter()
                    .zip(&drop)
                    .filter(|(_, &d)| !d)
                    .map(|(&v, _)| v)
                    .collect()
            }
        },
        Op::Unsqueeze { axes } => {
            let rank = x.len() + axes.len();
            let mut ones = vec![false; rank];
            for &a in axes {
                let a = concat_axis(a, rank)?;
                if std::mem::replace(&mut ones[a], true) {
                    return Err(EngineError::Input(format!(
                        "Unsqueeze names axis {a} twice"
                    )));
                }
            }
            let mut rest = x.iter();
            ones.iter()
                .map(|&one| if one { 1 } else { *rest.next().unwrap_or(&1) })
                .collect()
        }
        Op::MaxPool(win) | Op::AveragePool { win, .. } => {
            let g = win.geom(x, win.kernel.unwrap_or([1, 1]))?;
            g.check_work(g.c, "pooling")?;
            if win.merged_tail {
                // The 1×1 tail is unchanged: [N, C, D', H, W].
                vec![g.n, g.c, g.oh, x[3], x[4]]
            } else {
                vec![g.n, g.c, g.oh, g.ow]
            }
        }
        Op::GlobalAveragePool => {
            if x.len() < 3 {
                return Err(EngineError::Input(format!(
                    "GlobalAveragePool needs N, C and spatial axes, got {x:?}"
                )));
            }
            let mut s = x.to_vec();
            s[2..].iter_mut().for_each(|d| *d = 1);
            s
        }
        Op::Concat { axis } => {
            let a = concat_axis(*axis, x.len())?;
            let mut s = x.to_vec();
            for o in &ins[1..] {
                if o.len() != x.len()
                    || o.iter()
                        .zip(x)
                        .enumerate()
                        .any(|(i, (p, q))| i != a && p != q)
                {
                    return Err(EngineError::Input(format!(
                        "Concat inputs {x:?} and {o:?} differ off axis {a}"
                    )));
                }
                s[a] = s[a].checked_add(o[a]).ok_or_else(|| {
                    EngineError::Limit(format!("Concat along axis {a} overflows"))
                })?;
            }
            s
        }
        Op::Flatten { axis } => {
            let a = norm_axis(*axis, x.len())?;
            vec![x[..a].iter().product(), x[a..].iter().product()]
        }
        Op::Reshape { shape, allowzero } => reshape_shape(x, shape, *allowzero)?,
        Op::Expand { shape } => {
            let s: Vec<usize> = shape
                .iter()
                .map(|&d| usize::try_from(d))
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| EngineError::Input(format!("Expand to {shape:?} is invalid")))?;
            crate::tensor::broadcast_shape(x, &s).ok_or_else(|| {
                EngineError::Input(format!("{x:?} does not broadcast to {shape:?}"))
            })?
        }
        Op::Pad {
            pads, axes, mode, ..
        } => pad_dims(pads, axes.as_deref(), *mode, x)?.1,
        Op::Where => {
            let xy = crate::tensor::broadcast_shape(ins[1], ins[2]);
            xy.and_then(|s| crate::tensor::broadcast_shape(x, &s))
                .ok_or_else(|| {
                    EngineError::Input(format!(
                        "Where inputs {x:?}, {:?} and {:?} do not broadcast",
                        ins[1], ins[2]
                    ))
                })?
        }
        Op::Pending { .. } => {
            return Err(EngineError::Model(format!(
                "node '{}' depends on the input's shape and was not resolved",
                n.name
            )))
        }
        Op::Gemm {
            trans_a, trans_b, ..
        } => {
            let (m, _, nn) = gemm_dims(x, ins[1], *trans_a, *trans_b)?;
            if let Some(c) = ins.get(2) {
                if crate::tensor::broadcast_shape(&[m, nn], c).as_deref() != Some(&[m, nn][..]) {
                    return Err(EngineError::Input(format!(
                        "Gemm bias {c:?} does not broadcast to [{m}, {nn}]"
                    )));
                }
            }
            vec![m, nn]
        }
        Op::MatMul => matmul_dims(x, ins[1])?.0,
    })
}
