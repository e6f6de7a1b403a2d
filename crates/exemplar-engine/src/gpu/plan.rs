//! The planner: the pruned graph as a sequence of WGSL compute dispatches for one input
//! shape (slots for the intermediate tensors, reused once they are dead; each node's
//! kernel and parameters), and the run that submits them and reads back the result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::conv::{ConvParams, ConvTiledParams};
use super::elementwise::{AffineParams, BinaryOp, BinaryParams, UnaryOp, UnaryParams, WhereParams};
use super::layout::{GatherParams, PadCode, PadParams, StridedCopyParams};
use super::matmul::{GemmParams, MatMulParams, MatMulTiledParams, MAX_BATCH_AXES, TILE};
use super::norm::{LayerNormParams, ReduceMeanParams, SoftmaxParams};
use super::pool::{ConcatParams, LrnParams, PoolMode, PoolParams};
use super::reduce::ChannelMeanParams;
use super::{conv, pad6, right_aligned, Gpu, MAX_RANK};
use crate::cpu::{check_channels, reduce_layout};
use crate::graph::{
    concat_axis, gather_indices, gemm_dims, layer_norm_dims, matmul_dims, pad_dims, reduced_axes,
    softmax_dims, transpose_perm, Binary, Graph, Op, Unary,
};
use crate::tensor::{broadcast_strides, strides};
use crate::{EngineError, Result, Tensor};
use bytemuck::bytes_of;

const WORKGROUP: u64 = 64;

fn too_many_axes(n: &crate::graph::Node) -> EngineError {
    EngineError::UnsupportedOp {
        node: n.name.clone(),
        op_type: n.op_type.clone(),
        detail: format!(": more than {MAX_RANK} axes"),
    }
}

/// What a run reads back.
pub(crate) enum Readback<'a> {
    /// The mean of each listed channel of each target (one list per target) per image:
    /// `[image][channel]`, the targets' channels one after the other.
    ChannelMeans(&'a [&'a [usize]]),
    /// The whole first target tensor.
    Tensor,
}

/// A graph on a device: weights uploaded, plans per input shape.
pub(crate) struct GpuModel {
    gpu: Arc<Gpu>,
    graph: Arc<Graph>,
    weights: HashMap<String, wgpu::Buffer>,
    /// Constants too large to bind, by name, with their sizes in bytes (not uploaded).
    oversized: HashMap<String, u64>,
    plans: Mutex<HashMap<Vec<usize>, Arc<Plan>>>,
    /// Convolution weights packed for `conv2d_tiled`, by weight name (shared by plans).
    packed: Mutex<HashMap<String, wgpu::Buffer>>,
}

/// The workgroups of one dispatch.
pub(super) enum Groups {
    /// This many workgroups of a kernel indexed by `flat_index` (spread over x and y
    /// when x alone would exceed the device's limit).
    Flat(u64),
    /// Exactly this grid (a kernel that reads its workgroup id itself).
    Grid(u32, u32),
}

struct Step {
    pipeline: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    grid: (u32, u32),
}

/// Everything needed to run the graph on one input shape.
struct Plan {
    input: Arc<wgpu::Buffer>,
    /// Each target's buffer and shape, in the graph's order.
    targets: Vec<(Arc<wgpu::Buffer>, Vec<usize>)>,
    steps: Vec<Step>,
    /// Bytes of all intermediate buffers (for reports).
    bytes: u64,
}

impl GpuModel {
    pub fn new(gpu: Arc<Gpu>, graph: Arc<Graph>) -> GpuModel {
        // A constant larger than one buffer may bind is not uploaded (creating the buffer
        // could exceed maxBufferSize, which wgpu reports as a panic); a plan that binds it
        // is refused by `check_weights`, naming it.
        let limit = gpu.binding_limit();
        let (mut weights, mut oversized) = (HashMap::new(), HashMap::new());
        for (name, t) in graph.consts.iter() {
            let bytes = (t.data.len() * 4) as u64;
            if bytes > limit {
                oversized.insert(name.clone(), bytes);
            } else {
                weights.insert(
                    name.clone(),
                    gpu.upload(name, bytemuck::cast_slice(&t.data)),
                );
            }
        }
        GpuModel {
            gpu,
            graph,
            weights,
            oversized,
            plans: Mutex::new(HashMap::new()),
            packed: Mutex::new(HashMap::new()),
        }
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The largest tensor that depends on this input shape (the input, what the graph
    /// computes, and constants folded for this shape, such as a token expanded to the
    /// batch): its name and bytes. What a batch must keep under [`Gpu::binding_limit`].
    pub fn largest_tensor(&self, input: &[usize]) -> Result<(String, u64)> {
        let g = self.graph.resolve(input)?;
        let shapes = g.shapes(input)?;
        let computed = std::iter::once(g.input.as_str())
            .chain(g.nodes.iter().map(|n| n.output.as_str()))
            .map(|name| {
                let elems = shapes.get(name).map_or(0, |s| s.iter().product::<usize>());
                (name.to_string(), elems as u64 * 4)
            });
        let folded = g
            .shape_consts
            .iter()
            .map(|(name, t)| (name.clone(), t.data.len() as u64 * 4));
        Ok(computed
            .chain(folded)
            .max_by_key(|t| t.1)
            .unwrap_or_default())
    }

    /// An error naming the first weight (a constant of the model, the same for every
    /// batch) that a node binds but that is larger than the device binds: no sub-batch
    /// helps; wgpu itself would panic when binding it.
    fn check_weights(&self, g: &Graph) -> Result<()> {
        let limit = self.gpu.binding_limit();
        for n in &g.nodes {
            for name in &n.inputs {
                if let Some(&size) = self.oversized.get(name) {
                    return Err(EngineError::Gpu(format!(
                        "weight '{name}' of node '{}' needs {size} bytes, but the device binds at most {limit} bytes per buffer; use the CPU backend",
                        n.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Bytes of intermediate buffers the plan for this input shape allocates.
    pub fn plan_bytes(&self, input: &[usize]) -> Result<u64> {
        Ok(self.plan(input)?.bytes)
    }

    fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>> {
        let mut plans = self
            .plans
            .lock()
            .map_err(|_| EngineError::Gpu("a previous run panicked".into()))?;
        if let Some(p) = plans.get(shape) {
            return Ok(p.clone());
        }
        let plan = Arc::new(self.build_plan(shape)?);
        plans.insert(shape.to_vec(), plan.clone());
        Ok(plan)
    }

    /// The model's weight `name` (`[M, C/group, KH, KW]`) as `conv2d_tiled` reads it:
    /// `[ceil(M/4)][C/group][KH][KW][4]`, zeros beyond M. `None` when the weight is not a
    /// constant of the model (one folded per input shape is not cached by name) or the
    /// packed copy would exceed the binding limit: the plain kernel reads it as it is.
    fn packed_conv_weights(&self, name: &str) -> Option<wgpu::Buffer> {
        let mut packed = self.packed.lock().ok()?;
        if let Some(b) = packed.get(name) {
            return Some(b.clone());
        }
        let w = self.graph.consts.get(name)?;
        let [m, cpg, kh, kw] = *w.shape.as_slice() else {
            return None;
        };
        let kk = cpg * kh * kw;
        if (m.div_ceil(4) * kk * 16) as u64 > self.gpu.binding_limit() {
            return None;
        }
        let data = conv::pack_weights(&w.data, m, kk);
        let buf = self.gpu.upload(name, bytemuck::cast_slice(&data));
        packed.insert(name.to_string(), buf.clone());
        Some(buf)
    }

    fn build_plan(&self, input_shape: &[usize]) -> Result<Plan> {
        let resolved = self.graph.resolve(input_shape)?;
        let g = &*resolved;
        let gpu = &*self.gpu;
        let shapes = g.shapes(input_shape)?;
        // Constants folded for this input shape (e.g. a mask from the input's size).
        let shape_weights: HashMap<&str, wgpu::Buffer> = g
            .shape_consts
            .iter()
            .map(|(name, t)| {
                (
                    name.as_str(),
                    gpu.upload(name, bytemuck::cast_slice(&t.data)),
                )
            })
            .collect();
        let size = |name: &str| -> u64 { shapes[name].iter().product::<usize>() as u64 * 4 };
        self.check_weights(g)?;
        let (largest, bytes) = self.largest_tensor(input_shape)?;
        let limit = gpu.binding_limit();
        if bytes > limit {
            return Err(EngineError::Gpu(format!(
                "tensor '{largest}' needs {bytes} bytes for an input of shape {input_shape:?}, but the device binds at most {limit} bytes per buffer"
            )));
        }

        let slots = super::slots::assign(g, size);
        let buffers: Vec<Arc<wgpu::Buffer>> = slots
            .bytes
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                gpu.storage(
                    &format!("slot {i}"),
                    *bytes,
                    wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                )
                .map(Arc::new)
            })
            .collect::<Result<_>>()?;
        let bytes = slots.bytes.iter().map(|b| (*b).max(4)).sum();
        let buf = |name: &str| -> &wgpu::Buffer {
            match self.weights.get(name).or_else(|| shape_weights.get(name)) {
                Some(b) => b,
                None => &buffers[slots.of[name]],
            }
        };

        let mut steps = Vec::new();
        let mut push = |pipeline: &wgpu::ComputePipeline,
                        entries: &[(u32, &wgpu::Buffer)],
                        params: &[u8],
                        groups: Groups|
         -> Result<()> {
            let grid = match groups {
                Groups::Flat(0) | Groups::Grid(0, _) | Groups::Grid(_, 0) => return Ok(()),
                Groups::Flat(count) => gpu.grid(count)?,
                Groups::Grid(x, y) => (x, y),
            };
            let pbuf = gpu.upload("params", params);
            // Parameters always follow the kernel's last buffer.
            let mut all = entries.to_vec();
            all.push((entries.iter().map(|e| e.0).max().unwrap_or(0) + 1, &pbuf));
            let bind = gpu.bind(pipeline, &all);
            steps.push(Step {
                pipeline: pipeline.clone(),
                bind,
                grid,
            });
            Ok(())
        };
        let threads = |n: usize| Groups::Flat((n as u64).div_ceil(WORKGROUP));
        let k = &gpu.k;
        for n in &g.nodes {
            let x = &shapes[n.inputs[0].as_str()];
            let y = &shapes[n.output.as_str()];
            let total = y.iter().product::<usize>();
            let t32 = total as u32;
            let (bx, by) = (buf(&n.inputs[0]), buf(&n.output));
            match &n.op {
                Op::Conv { win, group } => {
                    let w = &shapes[n.inputs[1].as_str()];
                    let gm = win.geom(x, [w[2], w[3]])?;
                    let (m, mpg) = (w[0], w[0] / group);
                    // Tiles of 4 output channels must not straddle groups; one channel
                    // per group (depthwise) gains nothing from them.
                    let packed = if *group == 1 || (mpg % 4 == 0 && gm.c / group > 1) {
                        self.packed_conv_weights(&n.inputs[1])
                    } else {
                        None
                    };
                    match packed {
                        Some(wp) => {
                            let (xt, ct) = (gm.ow.div_ceil(4), m.div_ceil(4));
                            let tiles = gm.n * ct * gm.oh * xt;
                            let p = ConvTiledParams {
                                conv: ConvParams::new(tiles, &gm, m, *group),
                                x_tiles: xt as u32,
                                channel_tiles: ct as u32,
                            };
                            push(
                                &k.conv_tiled,
                                &[(0, bx), (1, &wp), (2, buf(&n.inputs[2])), (3, by)],
                                bytes_of(&p),
                                threads(tiles),
                            )?;
                        }
                        None => push(
                            &k.conv,
                            &[
                                (0, bx),
                                (1, buf(&n.inputs[1])),
                                (2, buf(&n.inputs[2])),
                                (3, by),
                            ],
                            bytes_of(&ConvParams::new(total, &gm, m, *group)),
                            threads(total),
                        )?,
                    }
                }
                Op::Unary(u) => {
                    let (op, min, max) = match *u {
                        Unary::Relu => (UnaryOp::Relu, 0.0, 0.0),
                        Unary::Clip { min, max } => (UnaryOp::Clip, min, max),
                        Unary::Sigmoid => (UnaryOp::Sigmoid, 0.0, 0.0),
                        Unary::Erf => (UnaryOp::Erf, 0.0, 0.0),
                        Unary::Sqrt => (UnaryOp::Sqrt, 0.0, 0.0),
                        Unary::Tanh => (UnaryOp::Tanh, 0.0, 0.0),
                        Unary::Gelu { tanh: false } => (UnaryOp::Gelu, 0.0, 0.0),
                        Unary::Gelu { tanh: true } => (UnaryOp::GeluTanh, 0.0, 0.0),
                    };
                    let p = UnaryParams {
                        total: t32,
                        op: op.code(),
                        min,
                        max,
                    };
                    push(&k.unary, &[(0, bx), (3, by)], bytes_of(&p), threads(total))?;
                }
                Op::Binary(op) => {
                    let b = &shapes[n.inputs[1].as_str()];
                    if y.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let op = match op {
                        Binary::Add => BinaryOp::Add,
                        Binary::Mul => BinaryOp::Mul,
                        Binary::Sub => BinaryOp::Sub,
                        Binary::Div => BinaryOp::Div,
                        Binary::Pow => BinaryOp::Pow,
                    };
                    let p = BinaryParams {
                        total: t32,
                        op: op.code(),
                        sizes: pad6(y, 1),
                        a_strides: pad6(&broadcast_strides(x, y), 0),
                        b_strides: pad6(&broadcast_strides(b, y), 0),
                    };
                    push(
                        &k.binary,
                        &[(0, bx), (1, buf(&n.inputs[1])), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::BatchNorm => {
                    let p = AffineParams {
                        total: t32,
                        channels: x.get(1).copied().unwrap_or(1) as u32,
                        inner: x.iter().skip(2).product::<usize>() as u32,
                    };
                    push(
                        &k.affine,
                        &[
                            (0, bx),
                            (1, buf(&n.inputs[1])),
                            (2, buf(&n.inputs[2])),
                            (3, by),
                        ],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::MaxPool(win) | Op::AveragePool { win, .. } => {
                    let gm = win.geom(x, win.kernel.unwrap_or([1, 1]))?;
                    let mode = match n.op {
                        Op::AveragePool {
                            count_include_pad: false,
                            ..
                        } => PoolMode::AverageInside,
                        Op::AveragePool {
                            count_include_pad: true,
                            ..
                        } => PoolMode::AveragePadded,
                        _ => PoolMode::Max,
                    };
                    let p = PoolParams::new(total, &gm, mode);
                    push(&k.pool, &[(0, bx), (1, by)], bytes_of(&p), threads(total))?;
                }
                Op::GlobalAveragePool => {
                    let (nn, c) = (x[0], x[1]);
                    let s = x[2..].iter().product::<usize>();
                    let chans: Vec<u32> = (0..c as u32).collect();
                    let cbuf = gpu.upload("channels", bytemuck::cast_slice(&chans));
                    let p = ChannelMeanParams {
                        images: nn as u32,
                        channels: c as u32,
                        spatial: s as u32,
                        image_stride: (c * s) as u32,
                        channel_stride: s as u32,
                        spatial_stride: 1,
                    };
                    push(
                        &k.channel_mean,
                        &[(0, bx), (1, &cbuf), (2, by)],
                        bytes_of(&p),
                        Groups::Flat((nn * c) as u64),
                    )?;
                }
                Op::Lrn {
                    size,
                    alpha,
                    beta,
                    bias,
                } => {
                    let p = LrnParams {
                        total: t32,
                        channels: x[1] as u32,
                        inner: x[2..].iter().product::<usize>() as u32,
                        before: ((size - 1) / 2) as u32,
                        after: (size - 1).div_ceil(2) as u32,
                        alpha: alpha / *size as f32,
                        beta: *beta,
                        bias: *bias,
                    };
                    push(&k.lrn, &[(0, bx), (1, by)], bytes_of(&p), threads(total))?;
                }
                Op::Concat { axis } => {
                    let a = concat_axis(*axis, x.len())?;
                    let chunk_dst = y[a..].iter().product::<usize>();
                    let mut offset = 0;
                    for input in &n.inputs {
                        let s = &shapes[input.as_str()];
                        let chunk = s[a..].iter().product::<usize>();
                        let count = s.iter().product::<usize>();
                        let p = ConcatParams {
                            total: count as u32,
                            chunk: chunk as u32,
                            chunk_dst: chunk_dst as u32,
                            offset: offset as u32,
                        };
                        push(
                            &k.concat,
                            &[(0, buf(input)), (1, by)],
                            bytes_of(&p),
                            threads(count),
                        )?;
                        offset += chunk;
                    }
                }
                Op::Gemm {
                    alpha,
                    beta,
                    trans_a,
                    trans_b,
                } => {
                    let (m, kk, nn) =
                        gemm_dims(x, &shapes[n.inputs[1].as_str()], *trans_a, *trans_b)?;
                    let (cbuf, cs, beta) = match n.inputs.get(2) {
                        Some(c) => (
                            buf(c),
                            broadcast_strides(&shapes[c.as_str()], &[m, nn]),
                            *beta,
                        ),
                        None => (bx, vec![0, 0], 0.0),
                    };
                    let p = GemmParams {
                        total: t32,
                        m: m as u32,
                        k: kk as u32,
                        n: nn as u32,
                        trans_a: u32::from(*trans_a),
                        trans_b: u32::from(*trans_b),
                        c_row_stride: cs[0] as u32,
                        c_col_stride: cs[1] as u32,
                        alpha: *alpha,
                        beta,
                    };
                    let entries = [(0, bx), (1, buf(&n.inputs[1])), (2, cbuf), (3, by)];
                    match gpu.tile_grid(nn, m, 1) {
                        Some(grid) => push(&k.gemm_tiled, &entries, bytes_of(&p), grid)?,
                        None => push(&k.gemm, &entries, bytes_of(&p), threads(total))?,
                    }
                }
                Op::MatMul => {
                    let b = &shapes[n.inputs[1].as_str()];
                    let (_, batch, m, kk, nn) = matmul_dims(x, b)?;
                    if batch.len() > MAX_BATCH_AXES {
                        return Err(EngineError::UnsupportedOp {
                            node: n.name.clone(),
                            op_type: n.op_type.clone(),
                            detail: format!(": more than {MAX_BATCH_AXES} batch axes"),
                        });
                    }
                    // Each operand's strides in matrices along the batch axes.
                    let batch_strides = |s: &[usize]| {
                        let st = broadcast_strides(&s[..s.len().saturating_sub(2)], &batch);
                        right_aligned(batch.len(), 0, |d| st[d] as u32)
                    };
                    let p = MatMulParams {
                        total: t32,
                        m: m as u32,
                        k: kk as u32,
                        n: nn as u32,
                        batch: right_aligned(batch.len(), 1, |d| batch[d] as u32),
                        a_strides: batch_strides(x),
                        b_strides: batch_strides(b),
                    };
                    let entries = [(0, bx), (1, buf(&n.inputs[1])), (3, by)];
                    let nb = batch.iter().product::<usize>();
                    match gpu.tile_grid(nn, m, nb) {
                        Some(grid) => {
                            let p = MatMulTiledParams {
                                matmul: p,
                                row_tiles: m.div_ceil(TILE) as u32,
                            };
                            push(&k.matmul_tiled, &entries, bytes_of(&p), grid)?
                        }
                        None => push(&k.matmul, &entries, bytes_of(&p), threads(total))?,
                    }
                }
                Op::Softmax { axis, log, legacy } => {
                    let (outer, len, inner) = softmax_dims(*axis, *legacy, x)?;
                    let p = SoftmaxParams {
                        rows: (outer * inner) as u32,
                        len: len as u32,
                        inner: inner as u32,
                        log: u32::from(*log),
                    };
                    push(
                        &k.softmax,
                        &[(0, bx), (3, by)],
                        bytes_of(&p),
                        Groups::Flat((outer * inner) as u64),
                    )?;
                }
                Op::LayerNorm { axis, epsilon } => {
                    let (rows, len) = layer_norm_dims(*axis, x)?;
                    let plen = |i: usize| shapes[n.inputs[i].as_str()].iter().product::<usize>();
                    let p = LayerNormParams {
                        rows: rows as u32,
                        len: len as u32,
                        scale_len: plen(1).max(1) as u32,
                        bias_len: plen(2).max(1) as u32,
                        epsilon: *epsilon,
                    };
                    push(
                        &k.layer_norm,
                        &[
                            (0, bx),
                            (1, buf(&n.inputs[1])),
                            (2, buf(&n.inputs[2])),
                            (3, by),
                        ],
                        bytes_of(&p),
                        Groups::Flat(rows as u64),
                    )?;
                }
                Op::ReduceMean { axes, noop, .. } => {
                    if x.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let red = reduced_axes(axes.as_deref(), *noop, x.len())?;
                    let kept: Vec<usize> = x
                        .iter()
                        .zip(&red)
                        .map(|(&d, &r)| if r { 1 } else { d })
                        .collect();
                    let folded: Vec<usize> = x
                        .iter()
                        .zip(&red)
                        .map(|(&d, &r)| if r { d } else { 1 })
                        .collect();
                    let p = ReduceMeanParams {
                        total: t32,
                        count: folded.iter().product::<usize>() as u32,
                        kept: pad6(&kept, 1),
                        folded: pad6(&folded, 1),
                        strides: pad6(&strides(x), 0),
                    };
                    push(
                        &k.reduce_mean,
                        &[(0, bx), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Transpose { perm } => {
                    if x.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let perm = transpose_perm(perm.as_deref(), x.len())?;
                    let sx = strides(x);
                    let src: Vec<usize> = perm.iter().map(|&a| sx[a]).collect();
                    let p = StridedCopyParams {
                        total: t32,
                        sizes: pad6(y, 1),
                        strides: pad6(&src, 0),
                        offset: 0,
                    };
                    push(
                        &k.transpose,
                        &[(0, bx), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Slice { .. } | Op::SplitPart { .. } => {
                    if x.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let dims = crate::graph::slice_dims(n, x)?;
                    let sx = strides(x);
                    let base: i64 = dims.iter().zip(&sx).map(|(d, &s)| d.0 * s as i64).sum();
                    let p = StridedCopyParams {
                        total: t32,
                        sizes: pad6(y, 1),
                        // Steps may be negative: two's complement in u32 (the kernel wraps).
                        strides: right_aligned(x.len(), 0, |d| {
                            (dims[d].1 * sx[d] as i64) as i32 as u32
                        }),
                        offset: base as u32,
                    };
                    push(
                        &k.transpose,
                        &[(0, bx), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Gather { axis, indices, .. } => {
                    let a = concat_axis(*axis, x.len())?;
                    let idx: Vec<u32> = gather_indices(indices, x[a])?
                        .into_iter()
                        .map(|i| i as u32)
                        .collect();
                    let ibuf = gpu.upload("gather indices", bytemuck::cast_slice(&idx));
                    let p = GatherParams {
                        total: t32,
                        inner: x[a + 1..].iter().product::<usize>() as u32,
                        count: idx.len() as u32,
                        axis_len: x[a] as u32,
                    };
                    push(
                        &k.gather,
                        &[(0, bx), (1, &ibuf), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Expand { .. } => {
                    if y.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    // A strided copy whose broadcast axes have stride 0.
                    let p = StridedCopyParams {
                        total: t32,
                        sizes: pad6(y, 1),
                        strides: pad6(&broadcast_strides(x, y), 0),
                        offset: 0,
                    };
                    push(
                        &k.transpose,
                        &[(0, bx), (3, by)],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Pad {
                    pads,
                    axes,
                    value,
                    mode,
                } => {
                    if x.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let (begins, _) = pad_dims(pads, axes.as_deref(), *mode, x)?;
                    let p = PadParams {
                        total: t32,
                        mode: PadCode::from(*mode).code(),
                        value: *value,
                        out_sizes: pad6(y, 1),
                        in_sizes: pad6(x, 1),
                        // Begins may be negative (cropping).
                        begins: right_aligned(x.len(), 0, |d| begins[d] as i32),
                        strides: pad6(&strides(x), 0),
                    };
                    push(&k.pad, &[(0, bx), (3, by)], bytes_of(&p), threads(total))?;
                }
                Op::Where => {
                    if y.len() > MAX_RANK {
                        return Err(too_many_axes(n));
                    }
                    let st =
                        |i: usize| pad6(&broadcast_strides(&shapes[n.inputs[i].as_str()], y), 0);
                    let p = WhereParams {
                        total: t32,
                        sizes: pad6(y, 1),
                        cond_strides: st(0),
                        x_strides: st(1),
                        y_strides: st(2),
                    };
                    push(
                        &k.select,
                        &[
                            (0, bx),
                            (1, buf(&n.inputs[1])),
                            (2, buf(&n.inputs[2])),
                            (3, by),
                        ],
                        bytes_of(&p),
                        threads(total),
                    )?;
                }
                Op::Pending { .. } => {
                    return Err(EngineError::Model(format!(
                        "node '{}' was not resolved for this input shape",
                        n.name
                    )))
                }
                Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Identity
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. } => {}
            }
        }
        Ok(Plan {
            input: buffers[0].clone(),
            targets: g
                .targets
                .iter()
                .map(|t| {
                    (
                        buffers[slots.of[t.as_str()]].clone(),
                        shapes[t.as_str()].clone(),
                    )
                })
                .collect(),
            steps,
            bytes,
        })
    }

    /// Runs the graph on one batch and reads back what `what` asks for; the result is
    /// flat: `[image][channel]` for channel means, the target's values otherwise. Work
    /// the device rejects (a validation error, out of memory) is an error, never a
    /// silent result: WebGPU reports such errors only asynchronously.
    pub async fn run(&self, input: &Tensor, what: Readback<'_>) -> Result<(Vec<usize>, Vec<f32>)> {
        let device = &self.gpu.device;
        let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = self.run_unchecked(input, what).await;
        if let Some(e) = validation.pop().await {
            return Err(EngineError::Gpu(format!("the GPU rejected the work: {e}")));
        }
        if let Some(e) = memory.pop().await {
            return Err(EngineError::Gpu(format!("the GPU ran out of memory: {e}")));
        }
        result
    }

    async fn run_unchecked(
        &self,
        input: &Tensor,
        what: Readback<'_>,
    ) -> Result<(Vec<usize>, Vec<f32>)> {
        let plan = self.plan(&input.shape)?;
        let gpu = &*self.gpu;
        gpu.queue
            .write_buffer(&plan.input, 0, bytemuck::cast_slice(&input.data));
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        // Per target listed: the channel-mean dispatch and its output buffer.
        let mut reduce = Vec::new();
        if let Readback::ChannelMeans(lists) = what {
            if lists.len() != plan.targets.len() {
                return Err(EngineError::Input(format!(
                    "{} channel lists for {} targets",
                    lists.len(),
                    plan.targets.len()
                )));
            }
            for ((target, shape), channels) in plan.targets.iter().zip(lists) {
                let (n, c, s, sn, sc, ss) = reduce_layout(shape)?;
                check_channels(channels, c)?;
                if plan.targets[0].1.first() != Some(&n) {
                    return Err(EngineError::Input(format!(
                        "the targets' first axes differ ({:?} and {shape:?}): they must both be the images",
                        plan.targets[0].1
                    )));
                }
                let chans: Vec<u32> = channels.iter().map(|&c| c as u32).collect();
                let cbuf = gpu.upload("channels", bytemuck::cast_slice(&chans));
                let out = gpu.storage(
                    "channel means",
                    (n * channels.len()) as u64 * 4,
                    wgpu::BufferUsages::COPY_SRC,
                )?;
                let p = ChannelMeanParams {
                    images: n as u32,
                    channels: channels.len() as u32,
                    spatial: s as u32,
                    image_stride: sn as u32,
                    channel_stride: sc as u32,
                    spatial_stride: ss as u32,
                };
                let pbuf = gpu.upload("params", bytes_of(&p));
                let bind = gpu.bind(
                    &gpu.k.channel_mean,
                    &[(0, &**target), (1, &cbuf), (2, &out), (3, &pbuf)],
                );
                let len = n * channels.len();
                reduce.push((bind, gpu.grid(len as u64)?, out, len));
            }
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("graph"),
                timestamp_writes: None,
            });
            for s in &plan.steps {
                pass.set_pipeline(&s.pipeline);
                pass.set_bind_group(0, &s.bind, &[]);
                pass.dispatch_workgroups(s.grid.0, s.grid.1, 1);
            }
            for (bind, grid, _, len) in &reduce {
                if *len > 0 {
                    pass.set_pipeline(&gpu.k.channel_mean);
                    pass.set_bind_group(0, bind, &[]);
                    pass.dispatch_workgroups(grid.0, grid.1, 1);
                }
            }
        }
        match what {
            Readback::ChannelMeans(_) => {
                let n = plan.targets[0].1.first().copied().unwrap_or(0);
                // Every target's means into one buffer, `[target][image][channel]`, read
                // back at once, then interleaved to `[image][target's channels…]`.
                let total: usize = reduce.iter().map(|r| r.3).sum();
                let (out, per_image): (Vec<f32>, usize) = if let [(_, _, out, len)] = &reduce[..] {
                    (gpu.read(encoder, out, *len).await?, len / n.max(1))
                } else {
                    let all = gpu.storage(
                        "channel means",
                        total as u64 * 4,
                        wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    )?;
                    let mut at = 0u64;
                    for (_, _, out, len) in &reduce {
                        if *len > 0 {
                            encoder.copy_buffer_to_buffer(out, 0, &all, at, *len as u64 * 4);
                        }
                        at += *len as u64 * 4;
                    }
                    let flat = gpu.read(encoder, &all, total).await?;
                    let per_image = total / n.max(1);
                    let mut out = Vec::with_capacity(total);
                    for i in 0..n {
                        let mut start = 0;
                        for (_, _, _, len) in &reduce {
                            let k = len / n.max(1);
                            out.extend_from_slice(&flat[start + i * k..start + (i + 1) * k]);
                            start += len;
                        }
                    }
                    (out, per_image)
                };
                Ok((vec![n, per_image], out))
            }
            Readback::Tensor => {
                let (target, shape) = &plan.targets[0];
                let len = shape.iter().product();
                Ok((shape.clone(), gpu.read(encoder, target, len).await?))
            }
        }
    }
}
