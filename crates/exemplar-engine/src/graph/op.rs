//! The engine's operators: [`Op`] with its parsed attributes, the 2-D window geometry
//! that convolution and pooling share ([`Window`], [`Geom`]), and [`Node`], one node of
//! the pruned graph.

use crate::{EngineError, Result};

/// ONNX `auto_pad`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

/// The sliding-window attributes of Conv and the pools (2-D only).
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// From `kernel_shape`; for Conv `None` means "from the weights".
    pub kernel: Option<[usize; 2]>,
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
    /// A 3-D window over `[N, C, D, H, W]` whose last two axes are 1×1 (stride 1, no
    /// padding): pooled as the 2-D window `kernel × 1` over `[N, C, D, H·W]`, the same
    /// memory. torch writes one for `F.local_response_norm` (a k×1×1 average over channels).
    pub merged_tail: bool,
}

/// A window resolved against an input shape: everything a kernel needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub pb: usize,
    pub pr: usize,
}

/// The extent of a dilated window, `(k - 1) * d + 1`, or `None` when it overflows.
fn window_extent(k: usize, d: usize) -> Option<usize> {
    k.checked_sub(1)?.checked_mul(d)?.checked_add(1)
}

fn same_pads(input: usize, k: usize, s: usize, d: usize, upper: bool) -> Option<(usize, usize)> {
    let eff = window_extent(k, d)?;
    let out = input.div_ceil(s.max(1));
    let total = out
        .saturating_sub(1)
        .checked_mul(s)?
        .checked_add(eff)?
        .saturating_sub(input);
    let small = total / 2;
    Some(if upper {
        (small, total - small)
    } else {
        (total - small, small)
    })
}

fn out_size(
    input: usize,
    k: usize,
    s: usize,
    d: usize,
    pb: usize,
    pe: usize,
    ceil: bool,
) -> std::result::Result<usize, WindowError> {
    let eff = window_extent(k, d).ok_or(WindowError::Overflow)?;
    let padded = input
        .checked_add(pb)
        .and_then(|v| v.checked_add(pe))
        .ok_or(WindowError::Overflow)?;
    if padded < eff {
        return Err(WindowError::TooSmall);
    }
    let s = s.max(1);
    let span = padded - eff;
    let mut out = if ceil { span.div_ceil(s) } else { span / s } + 1;
    // A window must start inside the input or its leading padding.
    if ceil && (out - 1).checked_mul(s).is_none_or(|v| v >= input + pb) {
        out -= 1;
    }
    Ok(out)
}

/// Why a window does not fit.
enum WindowError {
    TooSmall,
    /// Its size, dilation or padding overflows.
    Overflow,
}

impl Window {
    fn overflow(&self, kh: usize, kw: usize) -> EngineError {
        EngineError::Limit(format!(
            "a {kh}x{kw} window with dilations {:?}, strides {:?} and pads {:?} overflows",
            self.dilations, self.strides, self.pads
        ))
    }

    pub fn geom(&self, x: &[usize], kernel: [usize; 2]) -> Result<Geom> {
        let merged;
        let x = match (self.merged_tail, x) {
            (false, x) => x,
            (true, &[n, c, d, h, w]) => {
                merged = [n, c, d, h.saturating_mul(w)];
                &merged[..]
            }
            (true, x) => {
                return Err(EngineError::Input(format!(
                    "expected a 5-D (NCDHW) input for a 3-D window, got shape {x:?}"
                )))
            }
        };
        let [n, c, h, w] = *x else {
            return Err(EngineError::Input(format!(
                "expected a 4-D (NCHW) input, got shape {x:?}"
            )));
        };
        let [kh, kw] = kernel;
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        let (pt, pl, pb, pr) = match self.auto_pad {
            AutoPad::NotSet => (self.pads[0], self.pads[1], self.pads[2], self.pads[3]),
            AutoPad::Valid => (0, 0, 0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let up = self.auto_pad == AutoPad::SameUpper;
                let overflow = || self.overflow(kh, kw);
                let (pt, pb) = same_pads(h, kh, sh, dh, up).ok_or_else(overflow)?;
                let (pl, pr) = same_pads(w, kw, sw, dw, up).ok_or_else(overflow)?;
                (pt, pl, pb, pr)
            }
        };
        let fail = |e| match e {
            WindowError::TooSmall => {
                EngineError::Input(format!("input {x:?} is smaller than the {kh}x{kw} window"))
            }
            WindowError::Overflow => self.overflow(kh, kw),
        };
        let oh = out_size(h, kh, sh, dh, pt, pb, self.ceil_mode).map_err(fail)?;
        let ow = out_size(w, kw, sw, dw, pl, pr, self.ceil_mode).map_err(fail)?;
        // The kernels index with `(o · s + k · d) - p` in isize (CPU) and u32 (GPU): every
        // extent stays within i32 (no real network comes near; a hostile one would wrap).
        let small = |v: usize| v <= i32::MAX as usize;
        let extents = [
            h + pt + pb, // no overflow: checked by out_size
            w + pl + pr,
            window_extent(kh, dh).unwrap_or(usize::MAX),
            window_extent(kw, dw).unwrap_or(usize::MAX),
            sh,
            sw,
        ];
        if !extents.into_iter().all(small) || !small(w) {
            return Err(self.overflow(kh, kw));
        }
        Ok(Geom {
            n,
            c,
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            pt,
            pl,
            pb,
            pr,
        })
    }
}

/// The most window reads one image may cost a Conv or pooling node: 2^36 (about 7·10^10,
/// minutes of CPU). The largest layer of the study's networks needs about 10^8 (a 3x3 conv
/// of ResNet-50 at 56x56); a hostile window (a huge kernel, dilation or padding over a
/// tiny input) would otherwise keep a CPU busy for days without allocating anything.
pub const MAX_WINDOW_WORK: u64 = 1 << 36;

impl Geom {
    /// Refuses a node whose windows would cost more than [`MAX_WINDOW_WORK`] reads per
    /// image; `per_output` is what one output position reads per window element (the
    /// channels: output channels × input channels per group for a Conv, the channels for
    /// pooling).
    pub(crate) fn check_work(&self, per_output: usize, what: &str) -> Result<()> {
        let work = [self.oh, self.ow, self.kh, self.kw, per_output]
            .into_iter()
            .try_fold(1u64, |acc, v| acc.checked_mul(v as u64));
        match work {
            Some(w) if w <= MAX_WINDOW_WORK => Ok(()),
            _ => Err(EngineError::Limit(format!(
                "{what} with a {}x{} window over {}x{} outputs and {per_output} channel reads per output costs more than {MAX_WINDOW_WORK} reads per image",
                self.kh, self.kw, self.oh, self.ow
            ))),
        }
    }
}

/// The element-wise operators of one input: the one list the CPU, the GPU plan and the
/// shape inference all match on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unary {
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    Erf,
    Sqrt,
    Tanh,
    /// Gelu (opset 20): exact (with erf) or the tanh approximation.
    Gelu {
        tanh: bool,
    },
}

/// The element-wise operators of two inputs (ONNX's multidirectional broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Mul,
    Sub,
    Div,
    Pow,
}

/// An operator with its attributes parsed.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// inputs: x, weights [M, C/group, kh, kw], bias [M] (always present after loading)
    Conv {
        win: Window,
        group: usize,
    },
    /// An element-wise operator of one input.
    Unary(Unary),
    /// An element-wise operator of two inputs, broadcast together.
    Binary(Binary),
    /// Softmax or LogSoftmax over one axis (opset 13); before opset 13 (`legacy`) over the
    /// input flattened to 2-D at `axis`.
    Softmax {
        axis: i64,
        log: bool,
        legacy: bool,
    },
    /// inputs: x, scale, bias (zeros when the model has none); normalises over the axes
    /// from `axis` on.
    LayerNorm {
        axis: i64,
        epsilon: f32,
    },
    /// `None`: every axis (unless `noop`, then the output is the input).
    ReduceMean {
        axes: Option<Vec<i64>>,
        keepdims: bool,
        noop: bool,
    },
    /// `None`: reverse the axes.
    Transpose {
        perm: Option<Vec<i64>>,
    },
    /// Gather with constant indices (e.g. the class token or q, k, v of a projection).
    Gather {
        axis: i64,
        indices: Vec<i64>,
        indices_shape: Vec<usize>,
    },
    /// Slice with constant starts, ends, axes and steps.
    Slice {
        starts: Vec<i64>,
        ends: Vec<i64>,
        axes: Option<Vec<i64>>,
        steps: Option<Vec<i64>>,
    },
    /// One output of Split, a slice along `axis`: part `index` of `parts`, with the sizes
    /// `split` (`None`: equal parts, the last one smaller when they do not divide).
    SplitPart {
        axis: i64,
        split: Option<Vec<i64>>,
        parts: usize,
        index: usize,
    },
    /// `None`: every axis of size 1.
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Vec<i64>,
    },
    MaxPool(Window),
    AveragePool {
        win: Window,
        count_include_pad: bool,
    },
    GlobalAveragePool,
    Lrn {
        size: usize,
        alpha: f32,
        beta: f32,
        bias: f32,
    },
    Concat {
        axis: i64,
    },
    /// inputs: x, scale [C], shift [C] (precomputed from the BatchNormalization inputs)
    BatchNorm,
    Flatten {
        axis: i64,
    },
    /// Expand: the input broadcast to `shape` (ONNX's two-way broadcasting).
    Expand {
        shape: Vec<i64>,
    },
    /// Pad: `pads` as in ONNX (every begin, then every end, for `axes` or for all axes;
    /// negative values crop).
    Pad {
        pads: Vec<i64>,
        axes: Option<Vec<i64>>,
        value: f32,
        mode: PadMode,
    },
    /// Where: inputs condition (non-zero is true), x and y, broadcast together.
    Where,
    /// A node that depends on the input's shape: a shape computation still to fold
    /// (`fold`), or an operator whose constant inputs such a computation gives.
    /// [`Graph::resolve`] replaces it for each concrete input shape.
    Pending {
        index: usize,
        fold: bool,
    },
    Reshape {
        shape: Vec<i64>,
        allowzero: bool,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    /// Identity and inference-mode Dropout: the output is the input.
    Identity,
}

impl Op {
    /// Ops whose output is the input's data under another shape (no computation).
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Identity
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. }
        )
    }
}

/// Pad's `mode`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum PadMode {
    Constant,
    Edge,
    Reflect,
    /// Opset 19: the data repeated as if on a torus.
    Wrap,
}

/// One node of the pruned graph.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub name: String,
    pub op_type: String,
    pub op: Op,
    pub inputs: Vec<String>,
    pub output: String,
}
