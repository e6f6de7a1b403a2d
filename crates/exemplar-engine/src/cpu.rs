//! The CPU backend: every operator in plain Rust. It is the reference the GPU kernels are
//! tested against and the fallback where no GPU is available (a single-threaded Web
//! Worker in the browser). Most operators are written for clarity; Conv, Gemm and MatMul,
//! where the time goes, use the blocked matrix product of [`gemm`] (Conv through [`fast`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::graph::{
    concat_axis, gather_indices, gemm_dims, layer_norm_dims, matmul_dims, pad_copy, pad_dims,
    reduced_axes, softmax_dims, strided, transpose_perm, where_copy, Binary, Geom, Graph, Node, Op,
    Unary,
};
use crate::tensor::{broadcast_runs, broadcast_shape, broadcast_strides, strides};
use crate::{EngineError, Result, Tensor};

mod fast;
mod gemm;
mod im2col;
mod pool;
pub use gemm::set_cpu_threads;
use gemm::Mat;

/// The matrix product's micro-kernel on this machine (`avx512f`, `avx2+fma` or `portable`),
/// as benchmarks report it.
pub fn cpu_kernel() -> &'static str {
    gemm::Kernel::best().name()
}

thread_local! {
    /// The memory of tensors that died in this thread's runs, for later outputs. Kept
    /// between runs: freed at the end of each, it went back to the system and came back as
    /// fresh pages to fault in (a fifth of the time at batch 4).
    static SPARE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many dead tensors' buffers are kept for reuse, of at most
/// [`SPARE_VALUES`] values together.
const SPARE_BUFFERS: usize = 8;
const SPARE_VALUES: usize = 16 << 20;

/// A buffer of `len` values for an output whose every value the caller writes: a dead
/// tensor's memory where one fits (no allocation, no zeroing pass, and memory the caches
/// likely still hold; zeroing every convolution's output was a tenth of EfficientNet-Lite0's
/// time), else zeros.
pub(crate) fn output_buffer(len: usize) -> Vec<f32> {
    let reused = SPARE.with_borrow_mut(|spare| {
        // The smallest that fits.
        let fit = spare
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        fit.map(|i| spare.swap_remove(i))
    });
    match reused {
        Some(mut v) => {
            v.truncate(len);
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// Keeps a dead tensor's memory for [`output_buffer`] (up to [`SPARE_BUFFERS`] and
/// [`SPARE_VALUES`]; past them the smallest kept ones go).
pub(crate) fn spare(v: Vec<f32>) {
    SPARE.with_borrow_mut(|spare| {
        spare.push(v);
        spare.sort_unstable_by_key(|v| std::cmp::Reverse(v.capacity()));
        let mut total = 0;
        let keep = spare
            .iter()
            .take_while(|v| {
                total += v.capacity();
                total <= SPARE_VALUES
            })
            .count()
            .min(SPARE_BUFFERS);
        spare.truncate(keep);
    });
}

/// Convolution weights packed for the matrix product, by constant and group count: made
/// the first time a graph runs them, shared by the graphs resolved from one model (a
/// second copy of those weights, held as long as the model).
#[derive(Debug, Default)]
pub(crate) struct Packs(Mutex<HashMap<(String, usize), Option<PackedConv>>>);

/// A convolution's weights packed, one matrix per group.
type PackedConv = Arc<Vec<gemm::Packed>>;

impl Packs {
    /// The packed weights of a convolution whose weights are the constant `name`.
    fn conv(&self, name: &str, w: &Tensor, group: usize) -> Option<PackedConv> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry((name.to_owned(), group))
            .or_insert_with(|| fast::pack_weights(&w.data, &w.shape, group).map(Arc::new))
            .clone()
    }
}

/// `f` of every batch, in order: on one thread each, as many threads as products may use
/// (natively) and at most `most` batches at once, each batch's products then on its one
/// thread. Small convolutions gain little from splitting one product over cores, and
/// whole batches side by side keep each core on its own cache-sized tensors
/// (EfficientNet-Lite0 at batch 1 took about as long on two threads as on one). An
/// image's values do not depend on the threads.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn map_batches<T: Send>(
    batches: &[Tensor],
    most: usize,
    f: impl Fn(&Tensor) -> T + Sync,
) -> Vec<T> {
    let threads = gemm::cpu_threads().min(batches.len()).min(most);
    if threads <= 1 {
        return batches.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<std::sync::Mutex<Option<T>>> = batches
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                gemm::set_own_cpu_threads(1);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    let r = f(batch);
                    *done[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                }
            });
        }
    });
    done.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .expect("every batch ran")
        })
        .collect()
}

/// [`map_batches`] in wasm: one batch after the other, on the worker's one thread.
#[cfg(target_arch = "wasm32")]
pub(crate) fn map_batches<T>(batches: &[Tensor], _most: usize, f: impl Fn(&Tensor) -> T) -> Vec<T> {
    batches.iter().map(f).collect()
}

/// Runs the graph on `input` and returns the first target tensor.
pub(crate) fn run(graph: &Graph, input: &Tensor) -> Result<Tensor> {
    run_all(graph, input)?
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Model("the graph has no target".into()))
}

/// Runs the graph on `input` once and returns every target tensor, in order.
pub(crate) fn run_all(graph: &Graph, input: &Tensor) -> Result<Vec<Tensor>> {
    // Folds what depends on the input's shape.
    let graph = &*graph.resolve(&input.shape)?;
    // Validates shapes once, with messages that name the node.
    graph.shapes(&input.shape)?;
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for x in &n.inputs {
            last_use.insert(x.as_str(), i);
        }
    }
    let mut values: HashMap<&str, Tensor> = HashMap::new();
    values.insert(graph.input.as_str(), input.clone());
    for (i, n) in graph.nodes.iter().enumerate() {
        // An element-wise node whose first input dies here overwrites that input rather
        // than allocating its output: no fresh pages, one pass over memory fewer.
        let dies = |x: &str| {
            last_use.get(x) == Some(&i)
                && !graph.targets.iter().any(|t| t == x)
                && n.inputs.iter().filter(|y| y.as_str() == x).count() == 1
        };
        if let Some(first) = n.inputs.first().filter(|x| in_place_op(&n.op) && dies(x)) {
            if let Some(mut x) = values.remove(first.as_str()) {
                let rest: Vec<&Tensor> = n.inputs[1..]
                    .iter()
                    .map(|y| node_input(&values, graph, y))
                    .collect::<Result<_>>()?;
                if in_place(n, &mut x, &rest)? {
                    values.insert(n.output.as_str(), x);
                    continue;
                }
                values.insert(first.as_str(), x);
            }
        }
        let ins: Vec<&Tensor> = n
            .inputs
            .iter()
            .map(|x| node_input(&values, graph, x))
            .collect::<Result<_>>()?;
        // A convolution by constant weights takes them packed once.
        let packed = match &n.op {
            Op::Conv { group, .. } => n
                .inputs
                .get(1)
                .filter(|w| graph.consts.contains_key(w.as_str()))
                .and_then(|w| graph.cpu_packs.conv(w, ins[1], *group)),
            _ => None,
        };
        let out = node(n, &ins, packed.as_ref().map(|p| p.as_slice()))?;
        values.insert(n.output.as_str(), out);
        let dead: Vec<&str> = values
            .keys()
            .filter(|k| {
                !graph.targets.iter().any(|t| t == *k) && last_use.get(*k).is_some_and(|&l| l <= i)
            })
            .copied()
            .collect();
        for k in dead {
            if let Some(t) = values.remove(k) {
                spare(t.data);
            }
        }
    }
    graph
        .targets
        .iter()
        .map(|t| {
            values
                .remove(t.as_str())
                .ok_or_else(|| EngineError::Model(format!("tensor '{t}' was not computed")))
        })
        .collect()
}

/// A node's input `name`: a value computed so far, or a constant of the graph.
fn node_input<'a>(
    values: &'a HashMap<&str, Tensor>,
    graph: &'a Graph,
    name: &str,
) -> Result<&'a Tensor> {
    values
        .get(name)
        .or_else(|| graph.constant(name))
        .ok_or_else(|| EngineError::Model(format!("tensor '{name}' is missing")))
}

/// Applies one node to its inputs (a convolution's weights packed where `packed` is given).
pub(crate) fn node(n: &Node, ins: &[&Tensor], packed: Option<&[gemm::Packed]>) -> Result<Tensor> {
    let x = ins[0];
    Ok(match &n.op {
        Op::Conv { win, group } => {
            let w = ins[1];
            let g = win.geom(&x.shape, [w.shape[2], w.shape[3]])?;
            conv(x, w, &ins[2].data, &g, *group, packed)
        }
        Op::Unary(u) => {
            let mut y = x.clone();
            unary(*u, &mut y.data);
            y
        }
        Op::Binary(Binary::Add) => binary(x, ins[1], |a, b| a + b)?,
        Op::Binary(Binary::Mul) => binary(x, ins[1], |a, b| a * b)?,
        Op::Binary(Binary::Sub) => binary(x, ins[1], |a, b| a - b)?,
        Op::Binary(Binary::Div) => binary(x, ins[1], |a, b| a / b)?,
        Op::Binary(Binary::Pow) => binary(x, ins[1], pow)?,
        Op::Softmax { axis, log, legacy } => {
            softmax(x, softmax_dims(*axis, *legacy, &x.shape)?, *log)
        }
        Op::LayerNorm { axis, epsilon } => {
            let (rows, len) = layer_norm_dims(*axis, &x.shape)?;
            let (scale, bias) = (&ins[1].data, &ins[2].data);
            let mut y = x.clone();
            for row in y.data.chunks_mut(len.max(1)).take(rows) {
                // f64 sums: the reference should not share the kernel's rounding.
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
                let var = row
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / len as f64;
                let rstd = 1.0 / (var + f64::from(*epsilon)).sqrt();
                for (j, v) in row.iter_mut().enumerate() {
                    let norm = (f64::from(*v) - mean) * rstd;
                    *v = (norm * f64::from(scale[j % scale.len()])
                        + f64::from(bias[j % bias.len()])) as f32;
                }
            }
            y
        }
        Op::ReduceMean { axes, noop, .. } => {
            let red = reduced_axes(axes.as_deref(), *noop, x.shape.len())?;
            let kept: Vec<usize> = x
                .shape
                .iter()
                .zip(&red)
                .map(|(&d, &r)| if r { 1 } else { d })
                .collect();
            let count: usize = x
                .shape
                .iter()
                .zip(&red)
                .filter(|(_, &r)| r)
                .map(|(&d, _)| d)
                .product();
            let (sx, sk) = (strides(&x.shape), strides(&kept));
            let mut sums = vec![0f64; kept.iter().product()];
            for (i, &v) in x.data.iter().enumerate() {
                let o: usize = (0..x.shape.len())
                    .filter(|&d| !red[d])
                    .map(|d| (i / sx[d]) % x.shape[d] * sk[d])
                    .sum();
                sums[o] += f64::from(v);
            }
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            Tensor {
                shape: crate::graph::out_shape(n, &shapes)?,
                data: sums
                    .iter()
                    .map(|&s| (s / count.max(1) as f64) as f32)
                    .collect(),
            }
        }
        Op::Transpose { perm } => {
            let p = transpose_perm(perm.as_deref(), x.shape.len())?;
            let out: Vec<usize> = p.iter().map(|&a| x.shape[a]).collect();
            let (sx, so) = (strides(&x.shape), strides(&out));
            let data = (0..x.len())
                .map(|i| {
                    let src: usize = (0..out.len())
                        .map(|d| (i / so[d]) % out[d] * sx[p[d]])
                        .sum();
                    x.data[src]
                })
                .collect();
            Tensor { shape: out, data }
        }
        Op::Slice { .. } | Op::SplitPart { .. } => {
            let dims = crate::graph::slice_dims(n, &x.shape)?;
            let out: Vec<usize> = dims.iter().map(|d| d.2).collect();
            let (sx, so) = (strides(&x.shape), strides(&out));
            let total: usize = out.iter().product();
            let data = (0..total)
                .map(|i| {
                    let src: i64 = (0..out.len())
                        .map(|d| {
                            let k = ((i / so[d]) % out[d]) as i64;
                            (dims[d].0 + k * dims[d].1) * sx[d] as i64
                        })
                        .sum();
                    x.data[src as usize]
                })
                .collect();
            Tensor { shape: out, data }
        }
        Op::Gather { axis, indices, .. } => {
            let a = concat_axis(*axis, x.shape.len())?;
            let idx = gather_indices(indices, x.shape[a])?;
            let outer: usize = x.shape[..a].iter().product();
            let inner: usize = x.shape[a + 1..].iter().product();
            let mut data = Vec::with_capacity(outer * idx.len() * inner);
            for o in 0..outer {
                for &k in &idx {
                    let start = (o * x.shape[a] + k) * inner;
                    data.extend_from_slice(&x.data[start..start + inner]);
                }
            }
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            Tensor {
                shape: crate::graph::out_shape(n, &shapes)?,
                data,
            }
        }
        Op::MaxPool(win) | Op::AveragePool { win, .. } => {
            let avg = match n.op {
                Op::AveragePool {
                    count_include_pad, ..
                } => Some(count_include_pad),
                _ => None,
            };
            let mut y = pool(x, &win.geom(&x.shape, win.kernel.unwrap_or([1, 1]))?, avg);
            if win.merged_tail {
                y.shape = crate::graph::out_shape(n, &[x.shape.as_slice()])?;
            }
            y
        }
        Op::GlobalAveragePool => {
            let (n, c) = (x.shape[0], x.shape[1]);
            let s: usize = x.shape[2..].iter().product();
            let mut shape = x.shape.clone();
            shape[2..].iter_mut().for_each(|d| *d = 1);
            let data = (0..n * c)
                .map(|i| x.data[i * s..(i + 1) * s].iter().sum::<f32>() / s as f32)
                .collect();
            Tensor { shape, data }
        }
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => lrn(x, *size, *alpha, *beta, *bias),
        Op::Concat { axis } => concat(ins, concat_axis(*axis, x.shape.len())?),
        Op::BatchNorm => {
            let (scale, shift) = (&ins[1].data, &ins[2].data);
            let c = x.shape.get(1).copied().unwrap_or(1);
            let inner: usize = x.shape.iter().skip(2).product();
            let mut y = x.clone();
            for (i, v) in y.data.iter_mut().enumerate() {
                let ch = (i / inner) % c;
                *v = *v * scale[ch] + shift[ch];
            }
            y
        }
        Op::Flatten { .. }
        | Op::Reshape { .. }
        | Op::Identity
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. } => {
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            Tensor {
                shape: crate::graph::out_shape(n, &shapes)?,
                data: x.data.clone(),
            }
        }
        Op::Expand { .. } => {
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            let out = crate::graph::out_shape(n, &shapes)?;
            let src: Vec<i64> = broadcast_strides(&x.shape, &out)
                .iter()
                .map(|&s| s as i64)
                .collect();
            Tensor {
                data: strided(&x.data, &out, &src, 0),
                shape: out,
            }
        }
        Op::Pad {
            pads,
            axes,
            value,
            mode,
        } => {
            let (begins, out) = pad_dims(pads, axes.as_deref(), *mode, &x.shape)?;
            Tensor {
                data: pad_copy(&x.data, &x.shape, &begins, &out, *mode, *value),
                shape: out,
            }
        }
        Op::Where => {
            let (a, b) = (ins[1], ins[2]);
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            let out = crate::graph::out_shape(n, &shapes)?;
            Tensor {
                data: where_copy(
                    &x.data,
                    &x.shape,
                    &a.data,
                    &a.shape,
                    &b.data,
                    &b.shape,
                    &out,
                    |&c| c != 0.0,
                ),
                shape: out,
            }
        }
        Op::Pending { .. } => {
            return Err(EngineError::Model(format!(
                "node '{}' was not resolved for this input shape",
                n.name
            )))
        }
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => gemm(
            x,
            ins[1],
            ins.get(2).copied(),
            *alpha,
            *beta,
            *trans_a,
            *trans_b,
        )?,
        Op::MatMul => matmul(x, ins[1])?,
    })
}

/// ONNX Pow: a negative base with an integral exponent is defined (powf handles it).
fn pow(a: f32, b: f32) -> f32 {
    if b == 2.0 {
        a * a
    } else {
        a.powf(b)
    }
}

/// The error function to about 1e-15 (no erf in Rust's std): its Maclaurin series for
/// |x| < 2, else the continued fraction of erfc.
pub(crate) fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.0 {
        let (mut term, mut sum, x2) = (a, a, a * a);
        for k in 1..60 {
            term *= -x2 / k as f64;
            let t = term / (2 * k + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else if a > 6.0 {
        1.0
    } else {
        // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...))))
        let mut f = a;
        for k in (1..60).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    r.copysign(x)
}

fn gelu(v: f32, tanh: bool) -> f32 {
    let x = f64::from(v);
    let y = if tanh {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
    } else {
        0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
    };
    y as f32
}

/// Softmax (or its log) over `len` values `inner` apart, for each (outer, inner) row.
fn softmax(x: &Tensor, (outer, len, inner): (usize, usize, usize), log: bool) -> Tensor {
    let mut y = x.clone();
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let max = (0..len)
                .map(|j| x.data[at(j)])
                .fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = (0..len).map(|j| f64::from(x.data[at(j)] - max).exp()).sum();
            for j in 0..len {
                let e = f64::from(x.data[at(j)] - max);
                y.data[at(j)] = if log { e - sum.ln() } else { e.exp() / sum } as f32;
            }
        }
    }
    y
}

/// Whether [`in_place`] may compute this operator.
fn in_place_op(op: &Op) -> bool {
    matches!(op, Op::Unary(_) | Op::Binary(_))
}

/// [`node`] written over its first input `x` (the other inputs in `rest`), for the
/// element-wise operators, with the same values as `node`. Returns false, leaving `x`
/// untouched, where the output's shape is not `x`'s (a broadcast that grows it).
fn in_place(n: &Node, x: &mut Tensor, rest: &[&Tensor]) -> Result<bool> {
    match &n.op {
        Op::Binary(Binary::Add) => binary_into(x, rest[0], |a, b| a + b),
        Op::Binary(Binary::Mul) => binary_into(x, rest[0], |a, b| a * b),
        Op::Binary(Binary::Sub) => binary_into(x, rest[0], |a, b| a - b),
        Op::Binary(Binary::Div) => binary_into(x, rest[0], |a, b| a / b),
        Op::Binary(Binary::Pow) => binary_into(x, rest[0], pow),
        Op::Unary(u) => {
            unary(*u, &mut x.data);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Applies a unary element-wise operator to `data` in place.
fn unary(op: Unary, data: &mut [f32]) {
    fn each(data: &mut [f32], f: impl Fn(f32) -> f32) {
        data.iter_mut().for_each(|v| *v = f(*v));
    }
    match op {
        Unary::Relu => each(data, |v| max(v, 0.0)),
        Unary::Clip { min: lo, max: hi } => each(data, |v| min(max(v, lo), hi)),
        Unary::Sigmoid => each(data, |v| 1.0 / (1.0 + (-v).exp())),
        Unary::Erf => each(data, |v| erf(f64::from(v)) as f32),
        Unary::Sqrt => each(data, f32::sqrt),
        Unary::Tanh => each(data, f32::tanh),
        Unary::Gelu { tanh } => each(data, |v| gelu(v, tanh)),
    }
}

/// `f32::max` (a NaN operand gives the other) as a comparison: wasm has no instruction
/// with that rule, so `f32::max` is a call to libm's `fmaxf` there, a tenth of a ResNet's
/// time in the browser's CPU fallback.
#[inline(always)]
pub(crate) fn max(a: f32, b: f32) -> f32 {
    if a > b || b.is_nan() {
        a
    } else {
        b
    }
}

/// `f32::min` likewise.
#[inline(always)]
pub(crate) fn min(a: f32, b: f32) -> f32 {
    if a < b || b.is_nan() {
        a
    } else {
        b
    }
}

/// `a = f(a, b)` with `b` broadcast to `a`'s shape; false where the result's shape is not
/// `a`'s.
fn binary_into(a: &mut Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<bool> {
    if broadcast_shape(&a.shape, &b.shape).as_deref() != Some(&a.shape[..]) {
        return Ok(false);
    }
    let (run, starts) = broadcast_runs(&a.shape, &b.shape, &a.shape);
    let (len, y) = (run.len, &b.data);
    for (ia, ib) in starts {
        // `a` has the output's shape, so its runs are contiguous (`sa` is 1, or the run
        // is one value long).
        let xa = &mut a.data[ia..ia + len];
        match run.sb {
            1 => xa
                .iter_mut()
                .zip(&y[ib..ib + len])
                .for_each(|(u, &v)| *u = f(*u, v)),
            0 => xa.iter_mut().for_each(|u| *u = f(*u, y[ib])),
            sb => xa
                .iter_mut()
                .enumerate()
                .for_each(|(k, u)| *u = f(*u, y[ib + k * sb])),
        }
    }
    Ok(true)
}

fn binary(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32) -> Result<Tensor> {
    let out = broadcast_shape(&a.shape, &b.shape).ok_or_else(|| {
        EngineError::Input(format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape, b.shape
        ))
    })?;
    // By runs, so that the common cases (equal shapes, a per-channel or scalar operand) are
    // plain loops over slices; the pairs and their order are those of `broadcast_pairs`.
    let (run, starts) = broadcast_runs(&a.shape, &b.shape, &out);
    let (len, x, y) = (run.len, &a.data, &b.data);
    let mut data = Vec::with_capacity(out.iter().product());
    for (ia, ib) in starts {
        match (run.sa, run.sb) {
            (1, 1) => data.extend(
                x[ia..ia + len]
                    .iter()
                    .zip(&y[ib..ib + len])
                    .map(|(&u, &v)| f(u, v)),
            ),
            (1, 0) => data.extend(x[ia..ia + len].iter().map(|&u| f(u, y[ib]))),
            (0, 1) => data.extend(y[ib..ib + len].iter().map(|&v| f(x[ia], v))),
            (sa, sb) => data.extend((0..len).map(|k| f(x[ia + k * sa], y[ib + k * sb]))),
        }
    }
    Ok(Tensor { shape: out, data })
}

fn conv(
    x: &Tensor,
    w: &Tensor,
    bias: &[f32],
    g: &Geom,
    group: usize,
    packed: Option<&[gemm::Packed]>,
) -> Tensor {
    let m = w.shape[0];
    Tensor {
        shape: vec![g.n, m, g.oh, g.ow],
        data: fast::conv(&x.data, &w.data, bias, g, group, m, packed),
    }
}

/// Max pooling when `avg` is `None`, else average pooling (`Some(count_include_pad)`).
fn pool(x: &Tensor, g: &Geom, avg: Option<bool>) -> Tensor {
    Tensor {
        shape: vec![g.n, g.c, g.oh, g.ow],
        data: pool::pool(&x.data, g, avg),
    }
}

fn lrn(x: &Tensor, size: usize, alpha: f32, beta: f32, bias: f32) -> Tensor {
    let c = x.shape[1];
    let inner: usize = x.shape[2..].iter().product();
    let (before, after) = ((size - 1) / 2, (size - 1).div_ceil(2));
    let mut y = x.clone();
    for (i, v) in y.data.iter_mut().enumerate() {
        let n = i / (c * inner);
        let ch = (i / inner) % c;
        let s = i % inner;
        let lo = ch.saturating_sub(before);
        let hi = (ch + after).min(c - 1);
        let sq: f32 = (lo..=hi)
            .map(|k| x.data[(n * c + k) * inner + s].powi(2))
            .sum();
        *v /= (bias + alpha / size as f32 * sq).powf(beta);
    }
    y
}

fn concat(ins: &[&Tensor], axis: usize) -> Tensor {
    let mut shape = ins[0].shape.clone();
    shape[axis] = ins.iter().map(|t| t.shape[axis]).sum();
    let outer: usize = shape[..axis].iter().product();
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for t in ins {
            let chunk: usize = t.shape[axis..].iter().product();
            data.extend_from_slice(&t.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Tensor { shape, data }
}

fn gemm(
    a: &Tensor,
    b: &Tensor,
    c: Option<&Tensor>,
    alpha: f32,
    beta: f32,
    ta: bool,
    tb: bool,
) -> Result<Tensor> {
    let (m, k, n) = gemm_dims(&a.shape, &b.shape, ta, tb)?;
    let (ars, acs) = if ta { (1, m) } else { (k, 1) };
    let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
    let mut y = Tensor::zeros(&[m, n]);
    gemm::gemm(
        m,
        n,
        k,
        gemm::Lhs::Mat(Mat {
            data: &a.data,
            rs: ars,
            cs: acs,
        }),
        gemm::Rhs::Mat(Mat {
            data: &b.data,
            rs: brs,
            cs: bcs,
        }),
        &mut y.data,
        n,
        gemm::Start::Acc,
    );
    let cs = c.map(|c| (c, broadcast_strides(&c.shape, &[m, n])));
    for (i, row) in y.data.chunks_exact_mut(n.max(1)).enumerate().take(m) {
        for (j, v) in row.iter_mut().enumerate() {
            *v *= alpha;
            if let Some((c, s)) = &cs {
                *v += beta * c.data[i * s[0] + j * s[1]];
            }
        }
    }
    Ok(y)
}

fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (out, batch, m, k, n) = matmul_dims(&a.shape, &b.shape)?;
    let a_batch = &a.shape[..a.shape.len().saturating_sub(2)];
    let b_batch = &b.shape[..b.shape.len().saturating_sub(2)];
    let (sa, sb, so) = (
        broadcast_strides(a_batch, &batch),
        broadcast_strides(b_batch, &batch),
        strides(&batch),
    );
    let nb: usize = batch.iter().product();
    let mut data = vec![0.0; nb * m * n];
    for bi in 0..nb {
        let (mut oa, mut ob) = (0, 0);
        for d in 0..batch.len() {
            let idx = (bi / so[d]) % batch[d];
            oa += idx * sa[d];
            ob += idx * sb[d];
        }
        gemm::gemm(
            m,
            n,
            k,
            gemm::Lhs::Mat(Mat {
                data: &a.data[oa * m * k..],
                rs: k,
                cs: 1,
            }),
            gemm::Rhs::Mat(Mat {
                data: &b.data[ob * k * n..],
                rs: n,
                cs: 1,
            }),
            &mut data[bi * m * n..],
            n,
            gemm::Start::Acc,
        );
    }
    Ok(Tensor { shape: out, data })
}

/// Mean over the spatial positions (or tokens) of each requested channel, per image:
/// `[N, C, ...]` averages the trailing axes, `[N, T, C]` averages the tokens, `[N, C]` is
/// the value itself.
pub(crate) fn channel_means(t: &Tensor, channels: &[usize]) -> Result<Vec<Vec<f32>>> {
    let (n, c, s, sn, sc, ss) = reduce_layout(&t.shape)?;
    check_channels(channels, c)?;
    Ok((0..n)
        .map(|i| {
            channels
                .iter()
                .map(|&ch| {
                    (0..s)
                        .map(|p| t.data[i * sn + ch * sc + p * ss])
                        .sum::<f32>()
                        / s as f32
                })
                .collect()
        })
        .collect())
}

/// (images, channels, positions, image stride, channel stride, position stride).
pub(crate) fn reduce_layout(shape: &[usize]) -> Result<(usize, usize, usize, usize, usize, usize)> {
    Ok(match *shape {
        [n, c] => (n, c, 1, c, 1, 1),
        [n, t, c] => (n, c, t, t * c, 1, c),
        [n, c, ref rest @ ..] if !rest.is_empty() => {
            let s: usize = rest.iter().product();
            (n, c, s, c * s, s, 1)
        }
        _ => {
            return Err(EngineError::Input(format!(
                "cannot take channel means of a tensor of shape {shape:?}"
            )))
        }
    })
}

pub(crate) fn check_channels(channels: &[usize], c: usize) -> Result<()> {
    match channels.iter().find(|&&ch| ch >= c) {
        Some(ch) => Err(EngineError::Input(format!(
            "channel {ch} does not exist: the target has {c} channels (0 to {})",
            c.saturating_sub(1)
        ))),
        None => Ok(()),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Batches side by side come back in order, at most `most` at once, each thread's
    /// products on that one thread; with `most` 1 they all run on the calling thread.
    #[test]
    fn batches_side_by_side_keep_their_order_and_limit() {
        let batches: Vec<Tensor> = (0..7)
            .map(|i| Tensor::new(vec![1], vec![i as f32]).expect("one value"))
            .collect();
        let caller = std::thread::current().id();
        let run = |most| {
            map_batches(&batches, most, |b| {
                (b.data[0], std::thread::current().id(), gemm::cpu_threads())
            })
        };
        let alone = run(1);
        let order: Vec<f32> = alone.iter().map(|r| r.0).collect();
        assert_eq!(order, (0..7).map(|i| i as f32).collect::<Vec<_>>());
        assert!(alone
            .iter()
            .all(|r| r.1 == caller && r.2 == gemm::cpu_threads()));
        let side = run(usize::MAX);
        assert_eq!(side.iter().map(|r| r.0).collect::<Vec<_>>(), order);
        let threads: std::collections::HashSet<_> = side.iter().map(|r| r.1).collect();
        assert!(threads.len() <= gemm::cpu_threads().min(7));
        if gemm::cpu_threads() > 1 {
            // On threads of their own, whose products stay on them.
            assert!(side.iter().all(|r| r.1 != caller && r.2 == 1));
        }
    }
}
