//! torchvision's ConvNeXt and ViT-B/32, scaled down (seeded random weights, small widths
//! and depths) but built node for node as `torch.onnx.export` writes them, with a
//! symbolic batch axis: at opset 13/14 LayerNorm decomposed (ReduceMean, Sub, Pow, Add,
//! Sqrt, Div, Mul, Add; at opset 18 ReduceMean takes its axes as an input), at opset 17
//! one LayerNormalization; exact GELU as Div, Erf, Add, Mul, Mul; Linear as MatMul + Add
//! on 3-D and 4-D tensors and as Gemm on 2-D ones. ViT's attention is
//! `nn.MultiheadAttention` as torch 2.x exports it (unflatten/unsqueeze/transpose/squeeze
//! of the packed projection, Gather of q, k, v, head reshapes with sizes from `Shape`,
//! `scaled_dot_product_attention` with its scale from the query's shape) and as torch 1.x
//! did (`chunk` as Split, `bmm`, Softmax before and after opset 13). Each net is compared
//! with tract-onnx at several inner tensors, for batches of 1 and 3, on our CPU and (if
//! any) GPU paths, with issue 4's tolerance.

mod common;

use common::reference::{self, channel_means, compare};
use common::{gpu, ModelBuilder, Rng, A};
use exemplar_engine::onnx::TensorProto;
use exemplar_engine::{Engine, GpuContext, Tensor};

/// How torch writes the graph.
#[derive(Clone, Copy)]
struct Export {
    opset: i64,
    /// One LayerNormalization (`aten::layer_norm` from opset 17) or torch's decomposition
    /// (before 17, and `aten::native_layer_norm` at any opset).
    fused_layer_norm: bool,
    attn: Attn,
}

/// A torch export under construction: the builder, the opset, seeded weights, a counter.
struct Torch {
    m: ModelBuilder,
    opset: i64,
    fused_layer_norm: bool,
    r: Rng,
    k: usize,
}

impl Torch {
    fn new(seed: u64, export: Export, shape: &[Option<usize>]) -> Torch {
        let mut m = ModelBuilder::new("input", shape);
        m.opset(export.opset);
        Torch {
            m,
            opset: export.opset,
            fused_layer_norm: export.fused_layer_norm,
            r: Rng::new(seed),
            k: 0,
        }
    }

    fn name(&mut self, what: &str) -> String {
        self.k += 1;
        format!("/{what}_{}", self.k)
    }

    /// A parameter (initializer) uniform in ±`scale`.
    fn param(&mut self, what: &str, shape: &[usize], scale: f32) -> String {
        let n = self.name(what);
        let mut t = self.r.tensor(shape);
        t.data.iter_mut().for_each(|v| *v *= scale);
        self.m.weight(&n, &t);
        n
    }

    /// A parameter near `center` (LayerNorm weights, layer scales).
    fn param_near(&mut self, what: &str, shape: &[usize], center: f32, spread: f32) -> String {
        let n = self.name(what);
        let mut t = self.r.tensor(shape);
        t.data.iter_mut().for_each(|v| *v = center + spread * *v);
        self.m.weight(&n, &t);
        n
    }

    /// `Constant` node holding `value` (torch writes scalars and shapes this way).
    fn constant(&mut self, value: A) -> String {
        let n = self.name("Constant");
        self.m.constant(&n, value);
        n
    }
    fn int_scalar(&mut self, v: i64) -> String {
        self.constant(A::int_scalar(v))
    }
    fn ints(&mut self, v: &[i64]) -> String {
        self.constant(A::int_vec(v))
    }
    fn float_scalar(&mut self, v: f32) -> String {
        self.constant(A::float_scalar(v))
    }

    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, A)>) -> String {
        let n = self.name(op);
        self.m.node(op, &n, inputs, &n, attrs);
        n
    }

    fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![("perm", A::Ints(perm.to_vec()))])
    }

    /// Unsqueeze (axes an attribute before opset 13, an input since).
    fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        if self.opset < 13 {
            self.op("Unsqueeze", &[x], vec![("axes", A::Ints(axes.to_vec()))])
        } else {
            let a = self.ints(axes);
            self.op("Unsqueeze", &[x, &a], vec![])
        }
    }

    fn squeeze(&mut self, x: &str, axes: &[i64]) -> String {
        if self.opset < 13 {
            self.op("Squeeze", &[x], vec![("axes", A::Ints(axes.to_vec()))])
        } else {
            let a = self.ints(axes);
            self.op("Squeeze", &[x, &a], vec![])
        }
    }

    /// `x.size(i)` of a traced tensor: `Shape → Gather`.
    fn size(&mut self, x: &str, i: i64) -> String {
        let s = self.op("Shape", &[x], vec![]);
        let i = self.int_scalar(i);
        self.op("Gather", &[&s, &i], vec![("axis", A::I(0))])
    }

    /// A shape list of traced scalars and constants: each scalar unsqueezed, then Concat.
    fn shape_list(&mut self, parts: &[Dim]) -> String {
        let ins: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Dim::Traced(s) => self.unsqueeze(s, &[0]),
                Dim::Fixed(v) => self.ints(&[*v]),
            })
            .collect();
        let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
        self.op("Concat", &refs, vec![("axis", A::I(0))])
    }

    fn reshape(&mut self, x: &str, parts: &[Dim]) -> String {
        let s = self.shape_list(parts);
        self.op("Reshape", &[x, &s], vec![])
    }

    /// `nn.Conv2d` (square kernel, with bias).
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        groups: usize,
    ) -> String {
        let fan_in = cin / groups * k * k;
        let w = self.param(
            "conv.weight",
            &[cout, cin / groups, k, k],
            (3.0 / fan_in as f32).sqrt(),
        );
        let b = self.param("conv.bias", &[cout], 0.1);
        let (k, s, p) = (k as i64, stride as i64, pad as i64);
        self.op(
            "Conv",
            &[x, &w, &b],
            vec![
                ("dilations", A::Ints(vec![1, 1])),
                ("group", A::I(groups as i64)),
                ("kernel_shape", A::Ints(vec![k, k])),
                ("pads", A::Ints(vec![p, p, p, p])),
                ("strides", A::Ints(vec![s, s])),
            ],
        )
    }

    /// `nn.Linear` on a tensor of rank above 2: MatMul with the transposed weight (folded
    /// into an initializer) and `Add(bias, ·)`.
    fn linear(&mut self, x: &str, cin: usize, cout: usize) -> String {
        let w = self.param("onnx::MatMul", &[cin, cout], (3.0 / cin as f32).sqrt());
        let b = self.param("linear.bias", &[cout], 0.1);
        let y = self.op("MatMul", &[x, &w], vec![]);
        self.op("Add", &[&b, &y], vec![])
    }

    /// `nn.Linear` on a 2-D tensor: Gemm with transB.
    fn linear_2d(&mut self, x: &str, cin: usize, cout: usize) -> String {
        let w = self.param("linear.weight", &[cout, cin], (3.0 / cin as f32).sqrt());
        let b = self.param("linear.bias", &[cout], 0.1);
        self.op(
            "Gemm",
            &[x, &w, &b],
            vec![
                ("alpha", A::F(1.0)),
                ("beta", A::F(1.0)),
                ("transB", A::I(1)),
            ],
        )
    }

    /// `F.layer_norm` over the last axis: LayerNormalization, or torch's decomposition
    /// (`native_layer_norm`; ReduceMean's axes an input from opset 18).
    fn layer_norm(&mut self, x: &str, dim: usize, eps: f32) -> String {
        let w = self.param_near("norm.weight", &[dim], 1.0, 0.2);
        let b = self.param("norm.bias", &[dim], 0.1);
        if self.fused_layer_norm {
            return self.op(
                "LayerNormalization",
                &[x, &w, &b],
                vec![("axis", A::I(-1)), ("epsilon", A::F(eps))],
            );
        }
        let mean = |t: &mut Torch, x: &str| {
            if t.opset >= 18 {
                let a = t.ints(&[-1]);
                t.op("ReduceMean", &[x, &a], vec![])
            } else {
                t.op("ReduceMean", &[x], vec![("axes", A::Ints(vec![-1]))])
            }
        };
        let mu = mean(self, x);
        let d = self.op("Sub", &[x, &mu], vec![]);
        let two = self.float_scalar(2.0);
        let sq = self.op("Pow", &[&d, &two], vec![]);
        let var = mean(self, &sq);
        let e = self.float_scalar(eps);
        let ve = self.op("Add", &[&var, &e], vec![]);
        let sd = self.op("Sqrt", &[&ve], vec![]);
        let y = self.op("Div", &[&d, &sd], vec![]);
        let y = self.op("Mul", &[&y, &w], vec![]);
        self.op("Add", &[&y, &b], vec![])
    }

    /// Exact `nn.GELU`: one Gelu from opset 20, before it x · (erf(x / √2) + 1) · 0.5.
    fn gelu(&mut self, x: &str) -> String {
        if self.opset >= 20 {
            return self.op("Gelu", &[x], vec![("approximate", A::S("none"))]);
        }
        let sqrt2 = self.float_scalar(std::f32::consts::SQRT_2);
        let d = self.op("Div", &[x, &sqrt2], vec![]);
        let e = self.op("Erf", &[&d], vec![]);
        let one = self.float_scalar(1.0);
        let e1 = self.op("Add", &[&e, &one], vec![]);
        let g = self.op("Mul", &[x, &e1], vec![]);
        let half = self.float_scalar(0.5);
        self.op("Mul", &[&g, &half], vec![])
    }

    /// Split into `n` equal parts along `axis`, as torch writes `chunk` for this opset.
    fn split(&mut self, x: &str, axis: i64, sizes: &[i64]) -> Vec<String> {
        let outs: Vec<String> = sizes.iter().map(|_| self.name("Split")).collect();
        let refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
        let name = self.name("Split_node");
        if self.opset < 13 {
            self.m.node_outputs(
                "Split",
                &name,
                &[x],
                &refs,
                vec![("axis", A::I(axis)), ("split", A::Ints(sizes.to_vec()))],
            );
        } else if self.opset < 18 {
            let s = self.ints(sizes);
            self.m
                .node_outputs("Split", &name, &[x, &s], &refs, vec![("axis", A::I(axis))]);
        } else {
            self.m.node_outputs(
                "Split",
                &name,
                &[x],
                &refs,
                vec![
                    ("axis", A::I(axis)),
                    ("num_outputs", A::I(sizes.len() as i64)),
                ],
            );
        }
        outs
    }
}

/// One entry of a shape list: a traced scalar (unsqueezed) or a Python int (a constant).
enum Dim {
    Traced(String),
    Fixed(i64),
}

fn traced(s: &str) -> Dim {
    Dim::Traced(s.to_string())
}

/// `x.permute(0, 2, 3, 1)` → LayerNorm → `permute(0, 3, 1, 2)` (torchvision's LayerNorm2d).
fn layer_norm_2d(t: &mut Torch, x: &str, dim: usize) -> String {
    let nhwc = t.transpose(x, &[0, 2, 3, 1]);
    let y = t.layer_norm(&nhwc, dim, 1e-6);
    t.transpose(&y, &[0, 3, 1, 2])
}

/// torchvision's CNBlock: depthwise 7x7, Permute, LayerNorm, Linear, GELU, Linear,
/// Permute, layer scale, (stochastic depth: identity in eval) residual.
fn cn_block(t: &mut Torch, x: &str, dim: usize) -> String {
    let dw = t.conv(x, dim, dim, 7, 1, 3, dim);
    let nhwc = t.transpose(&dw, &[0, 2, 3, 1]);
    let ln = t.layer_norm(&nhwc, dim, 1e-6);
    let h = t.linear(&ln, dim, 4 * dim);
    let g = t.gelu(&h);
    let o = t.linear(&g, 4 * dim, dim);
    let nchw = t.transpose(&o, &[0, 3, 1, 2]);
    let scale = t.param_near("layer_scale", &[dim, 1, 1], 0.6, 0.4);
    let s = t.op("Mul", &[&scale, &nchw], vec![]);
    t.op("Add", &[&s, x], vec![])
}

/// A ConvNeXt-T-shaped network (stem 4x4/4 + LayerNorm2d, stages of CNBlocks, LayerNorm2d +
/// 2x2/2 downsampling) with widths `dims` and `depths` blocks per stage. Returns the builder
/// and inner NCHW tensors: stem, each block, each downsampling.
fn convnext(
    seed: u64,
    export: Export,
    hw: usize,
    dims: &[usize],
    depths: &[usize],
) -> (Torch, Vec<String>) {
    let mut t = Torch::new(seed, export, &[None, Some(3), Some(hw), Some(hw)]);
    let mut names = Vec::new();
    let stem = t.conv("input", 3, dims[0], 4, 4, 0, 1);
    let mut x = layer_norm_2d(&mut t, &stem, dims[0]);
    names.push(x.clone());
    for (s, (&dim, &depth)) in dims.iter().zip(depths).enumerate() {
        if s > 0 {
            let ln = layer_norm_2d(&mut t, &x, dims[s - 1]);
            x = t.conv(&ln, dims[s - 1], dim, 2, 2, 0, 1);
            names.push(x.clone());
        }
        for _ in 0..depth {
            x = cn_block(&mut t, &x, dim);
            names.push(x.clone());
        }
    }
    (t, names)
}

/// How the attention is written.
#[derive(Clone, Copy, PartialEq)]
enum Attn {
    /// torch 1.x: `chunk` (Split), `q / sqrt(head_dim)`, `bmm`, Softmax.
    Bmm,
    /// torch 2.x: the packed projection unflattened and gathered,
    /// `scaled_dot_product_attention` on [N, heads, L, head_dim].
    Sdpa,
}

/// `nn.MultiheadAttention(dim, heads, batch_first=True)(x, x, x, need_weights=False)` as
/// `F.multi_head_attention_forward` is traced, for [N, L, dim] input.
fn self_attention(t: &mut Torch, x: &str, dim: usize, heads: usize, attn: Attn) -> String {
    let h = heads as i64;
    // batch_first: query = key = value = query.transpose(1, 0)
    let q0 = t.transpose(x, &[1, 0, 2]);
    let tgt_len = t.size(&q0, 0);
    let bsz = t.size(&q0, 1);
    let embed_dim = t.size(&q0, 2);
    // head_dim = embed_dim.div(num_heads, rounding_mode='trunc')
    let heads_c = t.int_scalar(h);
    let hd = t.op("Div", &[&embed_dim, &heads_c], vec![]);
    let hd = t.op("Cast", &[&hd], vec![("to", A::I(7))]);
    let head_dim = t.op("Cast", &[&hd], vec![("to", A::I(7))]);
    let proj = t.linear(&q0, dim, 3 * dim);
    let (q, k, v) = match attn {
        Attn::Bmm => {
            let axis = if t.opset < 13 { -1 } else { 2 };
            let d = dim as i64;
            let parts = t.split(&proj, axis, &[d, d, d]);
            (parts[0].clone(), parts[1].clone(), parts[2].clone())
        }
        Attn::Sdpa => {
            // proj.unflatten(-1, (3, E)).unsqueeze(0).transpose(0, -2).squeeze(-2)
            let e = t.size(&q0, 2);
            let shape = t.op("Shape", &[&proj], vec![]);
            let (z, two, three, max) = (
                t.ints(&[0]),
                t.ints(&[2]),
                t.ints(&[3]),
                t.ints(&[i64::MAX]),
            );
            let head = t.op("Slice", &[&shape, &z, &two], vec![]);
            let tail = t.op("Slice", &[&shape, &three, &max], vec![]);
            let size = t.shape_list(&[Dim::Fixed(3), traced(&e)]);
            let full = t.op("Concat", &[&head, &size, &tail], vec![("axis", A::I(0))]);
            let u = t.op("Reshape", &[&proj, &full], vec![]);
            let u = t.unsqueeze(&u, &[0]);
            let u = t.transpose(&u, &[3, 1, 2, 0, 4]);
            let u = t.squeeze(&u, &[3]);
            let mut g = Vec::new();
            for i in 0..3 {
                let i = t.int_scalar(i);
                g.push(t.op("Gather", &[&u, &i], vec![("axis", A::I(0))]));
            }
            (g[0].clone(), g[1].clone(), g[2].clone())
        }
    };
    // q.view(tgt_len, bsz * num_heads, head_dim).transpose(0, 1); k and v with their own
    // length (k.shape[0]).
    let bh = t.op("Mul", &[&bsz, &heads_c], vec![]);
    let qh = t.reshape(&q, &[traced(&tgt_len), traced(&bh), traced(&head_dim)]);
    let qh = t.transpose(&qh, &[1, 0, 2]);
    let klen = t.size(&k, 0);
    let kh = t.reshape(&k, &[traced(&klen), traced(&bh), traced(&head_dim)]);
    let kh = t.transpose(&kh, &[1, 0, 2]);
    let vlen = t.size(&v, 0);
    let vh = t.reshape(&v, &[traced(&vlen), traced(&bh), traced(&head_dim)]);
    let vh = t.transpose(&vh, &[1, 0, 2]);
    let o = match attn {
        Attn::Bmm => {
            let hdim = (dim / heads) as f32;
            let s = t.float_scalar(hdim.sqrt());
            let qs = t.op("Div", &[&qh, &s], vec![]);
            let kt = t.transpose(&kh, &[0, 2, 1]);
            let a = t.op("MatMul", &[&qs, &kt], vec![]);
            let axis = if t.opset < 13 { 2 } else { -1 };
            let a = t.op("Softmax", &[&a], vec![("axis", A::I(axis))]);
            let o = t.op("MatMul", &[&a, &vh], vec![]);
            // attn_output.transpose(0, 1).contiguous().view(tgt_len * bsz, embed_dim)
            let o = t.transpose(&o, &[1, 0, 2]);
            let lb = t.op("Mul", &[&tgt_len, &bsz], vec![]);
            t.reshape(&o, &[traced(&lb), traced(&embed_dim)])
        }
        Attn::Sdpa => {
            let src_len = t.size(&kh, 1);
            let q4 = t.reshape(
                &qh,
                &[
                    traced(&bsz),
                    Dim::Fixed(h),
                    traced(&tgt_len),
                    traced(&head_dim),
                ],
            );
            let k4 = t.reshape(
                &kh,
                &[
                    traced(&bsz),
                    Dim::Fixed(h),
                    traced(&src_len),
                    traced(&head_dim),
                ],
            );
            let v4 = t.reshape(
                &vh,
                &[
                    traced(&bsz),
                    Dim::Fixed(h),
                    traced(&src_len),
                    traced(&head_dim),
                ],
            );
            // scale = 1 / sqrt(q.size(-1)), from the query's shape; q and k each scaled by
            // its square root.
            let qs = t.op("Shape", &[&q4], vec![]);
            let (m1, max) = (t.ints(&[-1]), t.ints(&[i64::MAX]));
            let last = t.op("Slice", &[&qs, &m1, &max], vec![]);
            let last = t.op("Cast", &[&last], vec![("to", A::I(1))]);
            let sq = t.op("Sqrt", &[&last], vec![]);
            let one = t.constant(A::T(TensorProto::from_f32("", &[1], &[1.0])));
            let scale = t.op("Div", &[&one, &sq], vec![]);
            let scale = t.op("Cast", &[&scale], vec![("to", A::I(1))]);
            let kt = t.transpose(&k4, &[0, 1, 3, 2]);
            let rs = t.op("Sqrt", &[&scale], vec![]);
            let qsc = t.op("Mul", &[&q4, &rs], vec![]);
            let rs2 = t.op("Sqrt", &[&scale], vec![]);
            let ksc = t.op("Mul", &[&kt, &rs2], vec![]);
            let a = t.op("MatMul", &[&qsc, &ksc], vec![]);
            let a = t.op("Softmax", &[&a], vec![("axis", A::I(-1))]);
            let o = t.op("MatMul", &[&a, &v4], vec![]);
            // attn_output.permute(2, 0, 1, 3).contiguous().view(bsz * tgt_len, embed_dim)
            let o = t.transpose(&o, &[2, 0, 1, 3]);
            let bl = t.op("Mul", &[&bsz, &tgt_len], vec![]);
            t.reshape(&o, &[traced(&bl), traced(&embed_dim)])
        }
    };
    let o = t.linear_2d(&o, dim, dim);
    // attn_output.view(tgt_len, bsz, attn_output.size(1)), then batch first again
    let e = t.size(&o, 1);
    let o = t.reshape(&o, &[traced(&tgt_len), traced(&bsz), traced(&e)]);
    t.transpose(&o, &[1, 0, 2])
}

/// A ViT-B/32-shaped network: conv_proj patches, reshape by sizes from `Shape` (with
/// torch's floor division), Permute, the class token expanded to the batch and
/// concatenated, position embedding, `layers` pre-norm encoder blocks, the final
/// LayerNorm and the class token `x[:, 0]`. Returns the builder and its inner tensors
/// (all [N, tokens, dim] but the last, [N, dim]).
fn vit(
    seed: u64,
    export: Export,
    hw: usize,
    patch: usize,
    dim: usize,
    heads: usize,
    layers: usize,
) -> (Torch, Vec<String>) {
    let mut t = Torch::new(seed, export, &[None, Some(3), Some(hw), Some(hw)]);
    let mut names = Vec::new();
    let tokens = (hw / patch) * (hw / patch) + 1;
    // n, c, h, w = x.shape; n_h = h // p; n_w = w // p (torch's floor division of ints)
    let n = t.size("input", 0);
    let floor_div = |t: &mut Torch, a: &str| {
        let p = t.int_scalar(patch as i64);
        let div = t.op("Div", &[a, &p], vec![]);
        let zero = t.int_scalar(0);
        let a_neg = t.op("Less", &[a, &zero], vec![]);
        let p_neg = t.op("Less", &[&p, &zero], vec![]);
        let negative = t.op("Xor", &[&a_neg, &p_neg], vec![]);
        let prod = t.op("Mul", &[&div, &p], vec![]);
        let rem = t.op("Sub", &[a, &prod], vec![]);
        let exact = t.op("Equal", &[&rem, &zero], vec![]);
        let inexact = t.op("Not", &[&exact], vec![]);
        let fix = t.op("And", &[&negative, &inexact], vec![]);
        let one = t.int_scalar(1);
        let down = t.op("Sub", &[&div, &one], vec![]);
        t.op("Where", &[&fix, &down, &div], vec![])
    };
    let h = t.size("input", 2);
    let w = t.size("input", 3);
    let n_h = floor_div(&mut t, &h);
    let n_w = floor_div(&mut t, &w);
    let x = t.conv("input", 3, dim, patch, patch, 0, 1);
    let hw_tokens = t.op("Mul", &[&n_h, &n_w], vec![]);
    let x = t.reshape(
        &x,
        &[traced(&n), Dim::Fixed(dim as i64), traced(&hw_tokens)],
    );
    let x = t.transpose(&x, &[0, 2, 1]);
    // batch_class_token = self.class_token.expand(n, -1, -1), n = x.shape[0]
    let class_token = t.param("class_token", &[1, 1, dim], 1.0);
    let n2 = t.size(&x, 0);
    let size = t.shape_list(&[traced(&n2), Dim::Fixed(-1), Dim::Fixed(-1)]);
    let ssize = t.op("Shape", &[&size], vec![]);
    let ones = t.op(
        "ConstantOfShape",
        &[&ssize],
        vec![("value", A::T(TensorProto::from_i64("", &[1], &[1])))],
    );
    let neg = t.int_scalar(-1);
    let negs = t.op("Mul", &[&ones, &neg], vec![]);
    let is_neg = t.op("Equal", &[&size, &negs], vec![]);
    let size = t.op("Where", &[&is_neg, &ones, &size], vec![]);
    let cls = t.op("Expand", &[&class_token, &size], vec![]);
    let x = t.op("Concat", &[&cls, &x], vec![("axis", A::I(1))]);
    let pos = t.param("pos_embedding", &[1, tokens, dim], 0.5);
    let mut x = t.op("Add", &[&x, &pos], vec![]);
    names.push(x.clone());
    for _ in 0..layers {
        let ln = t.layer_norm(&x, dim, 1e-6);
        let a = self_attention(&mut t, &ln, dim, heads, export.attn);
        let x1 = t.op("Add", &[&a, &x], vec![]);
        names.push(x1.clone());
        let ln2 = t.layer_norm(&x1, dim, 1e-6);
        let hdn = t.linear(&ln2, dim, 2 * dim);
        let g = t.gelu(&hdn);
        let o = t.linear(&g, 2 * dim, dim);
        x = t.op("Add", &[&x1, &o], vec![]);
        names.push(x.clone());
    }
    let ln = t.layer_norm(&x, dim, 1e-6);
    names.push(ln.clone());
    let zero = t.int_scalar(0);
    let cls = t.op("Gather", &[&ln, &zero], vec![("axis", A::I(1))]);
    names.push(cls);
    (t, names)
}

/// Compares each target for batches of 1 and 3 on the CPU and (if any) the GPU with
/// tract; `tokens` says which targets are [N, tokens, C]. Also checks `activations()` (the
/// channel means the experiment reads) on the last target with tokens.
fn check(
    label: &str,
    m: &ModelBuilder,
    targets: &[String],
    tokens: &dyn Fn(&str) -> bool,
    seed: u64,
) {
    let g: Option<GpuContext> = gpu();
    let bytes = m.bytes();
    let (c, hw) = (3, {
        let e = Engine::load(&bytes, &targets[0], None).unwrap();
        e.input_shape()[2].unwrap()
    });
    let mut r = Rng::new(seed);
    let inputs = [r.tensor(&[1, c, hw, hw]), r.tensor(&[3, c, hw, hw])];
    let mut worst = (0.0f32, 0.0f32);
    for target in targets {
        let tok = tokens(target);
        let cpu =
            Engine::load(&bytes, target, None).unwrap_or_else(|e| panic!("{label} {target}: {e}"));
        let on_gpu = g.as_ref().map(|g| {
            Engine::load(&bytes, target, Some(g))
                .unwrap_or_else(|e| panic!("{label} {target} (gpu): {e}"))
        });
        for input in &inputs {
            let want = reference::tract_tensor(&m.bytes_with_outputs(&[target]), target, input);
            let got = cpu
                .target_tensor_blocking(input)
                .unwrap_or_else(|e| panic!("{label} {target} (cpu): {e}"));
            let wc = compare(&format!("{label} {target} (cpu)"), &got, &want, tok);
            worst.0 = worst.0.max(wc);
            let wg = on_gpu.as_ref().map(|e| {
                let got = e
                    .target_tensor_blocking(input)
                    .unwrap_or_else(|e| panic!("{label} {target} (gpu): {e}"));
                compare(&format!("{label} {target} (gpu)"), &got, &want, tok)
            });
            if let Some(w) = wg {
                worst.1 = worst.1.max(w);
            }
            eprintln!(
                "ok  {label:<16} {target:<16} {:?}  max|cpu - tract| {wc:.2e}  max|gpu - tract| {}",
                want.shape,
                wg.map_or("(no GPU)".to_string(), |w| format!("{w:.2e}"))
            );
        }
    }
    // The activations an experiment reads: channel means per image, batched by the engine.
    let target = targets
        .iter()
        .rev()
        .find(|t| tokens(t))
        .unwrap_or(&targets[0]);
    let input = &inputs[1];
    let want = channel_means(
        &reference::tract_tensor(&m.bytes_with_outputs(&[target]), target, input),
        tokens(target),
    );
    let images: Vec<Tensor> = input
        .data
        .chunks(c * hw * hw)
        .map(|d| Tensor::new(vec![c, hw, hw], d.to_vec()).unwrap())
        .collect();
    let engines = [
        Some(Engine::load(&bytes, target, None).unwrap()),
        g.as_ref()
            .map(|g| Engine::load(&bytes, target, Some(g)).unwrap()),
    ];
    for e in engines.iter().flatten() {
        let channels: Vec<usize> = (0..want[0].len()).collect();
        let got = e.activations_blocking(&images, &channels).unwrap();
        let scale = want.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        for (a, b) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!(
                (a - b).abs() <= reference::RTOL * b.abs() + reference::ATOL * scale,
                "{label} {target} activations ({:?}): {a} vs tract {b}",
                e.backend()
            );
        }
    }
    eprintln!(
        "{label}: worst |cpu - tract| {:.2e}, |gpu - tract| {:.2e} over {} targets",
        worst.0,
        worst.1,
        targets.len()
    );
}

fn convnext_matches_tract(opset: i64, fused_layer_norm: bool) {
    let export = Export {
        opset,
        fused_layer_norm,
        attn: Attn::Sdpa,
    };
    let (t, names) = convnext(41, export, 32, &[8, 16], &[2, 1]);
    check(
        &format!("convnext opset {opset}"),
        &t.m,
        &names,
        &|_| false,
        42,
    );
}

#[test]
fn convnext_opset13_decomposed_layer_norm_matches_tract() {
    convnext_matches_tract(13, false);
}

#[test]
fn convnext_opset17_layer_normalization_matches_tract() {
    convnext_matches_tract(17, true);
}

fn vit_matches_tract(opset: i64, fused_layer_norm: bool, attn: Attn) {
    let export = Export {
        opset,
        fused_layer_norm,
        attn,
    };
    let (t, names) = vit(43, export, 64, 32, 24, 3, 2);
    let last = names.last().cloned().unwrap_or_default();
    // The shape arithmetic is folded for each batch size; none of it reaches a backend.
    let e = Engine::load(&t.m.bytes(), &last, None).unwrap();
    let ops = e.op_types();
    for folded in [
        "Shape",
        "Cast",
        "Where",
        "Xor",
        "Equal",
        "ConstantOfShape",
        "Expand",
    ] {
        assert!(!ops.contains(&folded), "{folded} runs: {ops:?}");
    }
    check(
        &format!("vit opset {opset}"),
        &t.m,
        &names,
        &|n: &str| n != last,
        44,
    );
}

#[test]
fn vit_opset11_split_bmm_matches_tract() {
    vit_matches_tract(11, false, Attn::Bmm);
}

#[test]
fn vit_opset13_split_bmm_matches_tract() {
    vit_matches_tract(13, false, Attn::Bmm);
}

#[test]
fn vit_opset14_sdpa_matches_tract() {
    vit_matches_tract(14, false, Attn::Sdpa);
}

#[test]
fn vit_opset17_sdpa_layer_normalization_matches_tract() {
    vit_matches_tract(17, true, Attn::Sdpa);
}

/// `native_layer_norm`'s decomposition with ReduceMean's axes as an input, and `chunk` as
/// Split by `num_outputs`.
#[test]
fn vit_opset18_reduce_mean_axes_input_and_split_num_outputs_match_tract() {
    vit_matches_tract(18, false, Attn::Bmm);
}

/// Opset 20: GELU as one Gelu node.
#[test]
fn vit_opset20_gelu_matches_tract() {
    vit_matches_tract(20, true, Attn::Sdpa);
}

/// More images than the GPU's buffers hold: the engine runs them in sub-batches of 6 and 3,
/// each with the torch export's shape arithmetic (and Split) resolved for its own batch
/// size, and gets exactly what one batch of all of them gets. A weight larger than the
/// device binds is an error naming it (no sub-batch helps), not a panic in wgpu.
#[test]
fn vit_batches_beyond_the_buffer_limit_are_split() {
    let Some(g) = gpu() else { return };
    let export = Export {
        opset: 13,
        fused_layer_norm: false,
        attn: Attn::Bmm,
    };
    let (t, names) = vit(45, export, 64, 32, 24, 3, 2);
    let target = &names[names.len() - 2];
    let bytes = t.m.bytes();
    let mut r = Rng::new(46);
    let images: Vec<Tensor> = (0..9).map(|_| r.tensor(&[3, 64, 64])).collect();
    let channels: Vec<usize> = (0..24).collect();
    let whole = Engine::load(&bytes, target, Some(&g))
        .unwrap()
        .activations_blocking(&images, &channels)
        .unwrap();
    // The largest weight is conv_proj's, 24·3·32·32 floats (294,912 bytes); the largest
    // tensor per image is the input, 3·64·64 floats (49,152 bytes): six images fit in
    // 300,000 bytes, nine do not.
    let small = pollster::block_on(GpuContext::with_max_buffer_bytes(300_000)).unwrap();
    let split = Engine::load(&bytes, target, Some(&small)).unwrap();
    let nine = Tensor::new(vec![9, 3, 64, 64], vec![0.0; 9 * 3 * 64 * 64]).unwrap();
    assert!(
        split.target_tensor_blocking(&nine).is_err(),
        "one batch of 9 must not fit the lowered limit"
    );
    let got = split.activations_blocking(&images, &channels).unwrap();
    assert_eq!(got, whole, "split batches differ from one batch");
    let cpu = Engine::load(&bytes, target, None)
        .unwrap()
        .activations_blocking(&images, &channels)
        .unwrap();
    let scale = cpu.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    for (a, b) in got.iter().flatten().zip(cpu.iter().flatten()) {
        assert!(
            (a - b).abs() <= reference::RTOL * b.abs() + reference::ATOL * scale,
            "split gpu {a} vs cpu {b}"
        );
    }

    let tiny = pollster::block_on(GpuContext::with_max_buffer_bytes(100_000)).unwrap();
    let err = Engine::load(&bytes, target, Some(&tiny))
        .unwrap()
        .activations_blocking(&images, &channels)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("weight '") && err.contains("needs 294912 bytes"),
        "{err}"
    );
}

/// A Split the engine cannot run (of a value computed from the input's shape) is a
/// load-time error naming the node.
#[test]
fn split_of_a_shape_computation_is_a_load_error_naming_the_node() {
    let mut m = ModelBuilder::new("x", &[None, Some(2), Some(3)]);
    m.node("Relu", "relu", &["x"], "r", vec![])
        .node("Shape", "shape", &["r"], "s", vec![])
        .node_outputs(
            "Split",
            "split_shape",
            &["s"],
            &["s0", "s1"],
            vec![("axis", A::I(0)), ("split", A::Ints(vec![1, 2]))],
        )
        .node("Reshape", "reshape", &["r", "s1"], "y", vec![]);
    m.opset(11);
    let err = Engine::load(&m.bytes(), "y", None)
        .err()
        .expect("Split of a shape must be refused");
    assert!(
        matches!(err, exemplar_engine::EngineError::UnsupportedOp { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("split_shape"), "{err}");
}
