//! Whole networks in the forms interpretability research uses, with seeded random
//! weights (scaled by fan-in so activations stay near 1 through the depth): GoogLeNet as
//! torchvision exports it (BatchNormalization, ceil-mode pooling) and as Caffe/Lucid has
//! it (LRN, 5x5 branches), ResNet bottlenecks, a DenseNet block, and a ViT encoder block
//! the way torch exports it before opset 17 (LayerNorm and GELU decomposed).

use super::{ModelBuilder, Rng, A};
use exemplar_engine::Tensor;

/// A network under construction: the builder, the weights' generator and a name counter.
pub struct Net {
    pub m: ModelBuilder,
    r: Rng,
    k: usize,
}

fn ints(v: &[i64]) -> A {
    A::Ints(v.to_vec())
}

impl Net {
    pub fn new(seed: u64, input: &str, shape: &[Option<usize>]) -> Net {
        Net {
            m: ModelBuilder::new(input, shape),
            r: Rng::new(seed),
            k: 0,
        }
    }

    fn name(&mut self, what: &str) -> String {
        self.k += 1;
        format!("{what}{}", self.k)
    }

    fn scaled(&mut self, shape: &[usize], fan_in: usize) -> Tensor {
        let mut t = self.r.tensor(shape);
        let s = (3.0 / fan_in.max(1) as f32).sqrt();
        t.data.iter_mut().for_each(|v| *v *= s);
        t
    }

    /// Conv (square kernel) [+ BatchNormalization] [+ Relu]; returns the output's name.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        bn: bool,
        relu: bool,
    ) -> String {
        let n = self.name("conv");
        let w = self.scaled(&[cout, cin, k, k], cin * k * k);
        self.m.weight(&format!("{n}.w"), &w);
        let mut inputs = vec![x.to_string(), format!("{n}.w")];
        if !bn {
            let b = self.r.tensor(&[cout]);
            let b = Tensor::new(vec![cout], b.data.iter().map(|v| v * 0.1).collect()).unwrap();
            self.m.weight(&format!("{n}.b"), &b);
            inputs.push(format!("{n}.b"));
        }
        let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
        let (s, p) = (stride as i64, pad as i64);
        self.m.node(
            "Conv",
            &n,
            &refs,
            &n,
            vec![
                ("kernel_shape", ints(&[k as i64, k as i64])),
                ("strides", ints(&[s, s])),
                ("pads", ints(&[p, p, p, p])),
            ],
        );
        let mut out = n.clone();
        if bn {
            out = self.bn(&out, cout);
        }
        if relu {
            out = self.relu(&out);
        }
        out
    }

    /// A ResNet bottleneck: 1x1 → 3x3 (stride) → 1x1 to `4 × width` channels, each with
    /// BatchNormalization, a projection shortcut where the shape changes, Add, Relu.
    pub fn bottleneck(&mut self, x: &str, cin: usize, width: usize, stride: usize) -> String {
        let cout = width * 4;
        let a = self.conv(x, cin, width, 1, 1, 0, true, true);
        let b = self.conv(&a, width, width, 3, stride, 1, true, true);
        let c = self.conv(&b, width, cout, 1, 1, 0, true, false);
        let short = if cin != cout || stride != 1 {
            self.conv(x, cin, cout, 1, stride, 0, true, false)
        } else {
            x.to_string()
        };
        let sum = self.binary("Add", &c, &short);
        self.relu(&sum)
    }

    pub fn bn(&mut self, x: &str, c: usize) -> String {
        let n = self.name("bn");
        let gamma: Vec<f32> = self.r.vec(c).iter().map(|v| 0.75 + 0.5 * v.abs()).collect();
        let beta: Vec<f32> = self.r.vec(c).iter().map(|v| 0.2 * v).collect();
        let mean: Vec<f32> = self.r.vec(c).iter().map(|v| 0.1 * v).collect();
        let var: Vec<f32> = self.r.vec(c).iter().map(|v| 0.5 + v.abs()).collect();
        for (suffix, d) in [("s", gamma), ("b", beta), ("m", mean), ("v", var)] {
            self.m
                .weight(&format!("{n}.{suffix}"), &Tensor::new(vec![c], d).unwrap());
        }
        let ins: Vec<String> = ["s", "b", "m", "v"]
            .iter()
            .map(|s| format!("{n}.{s}"))
            .collect();
        self.m.node(
            "BatchNormalization",
            &n,
            &[x, &ins[0], &ins[1], &ins[2], &ins[3]],
            &n,
            vec![("epsilon", A::F(1e-5))],
        );
        n
    }

    pub fn relu(&mut self, x: &str) -> String {
        let n = self.name("relu");
        self.m.node("Relu", &n, &[x], &n, vec![]);
        n
    }

    pub fn maxpool(&mut self, x: &str, k: usize, s: usize, p: usize, ceil: bool) -> String {
        let n = self.name("maxpool");
        let (k, s, p) = (k as i64, s as i64, p as i64);
        self.m.node(
            "MaxPool",
            &n,
            &[x],
            &n,
            vec![
                ("kernel_shape", ints(&[k, k])),
                ("strides", ints(&[s, s])),
                ("pads", ints(&[p, p, p, p])),
                ("ceil_mode", A::I(i64::from(ceil))),
            ],
        );
        n
    }

    pub fn avgpool(&mut self, x: &str, k: usize, s: usize) -> String {
        let n = self.name("avgpool");
        let (k, s) = (k as i64, s as i64);
        self.m.node(
            "AveragePool",
            &n,
            &[x],
            &n,
            vec![("kernel_shape", ints(&[k, k])), ("strides", ints(&[s, s]))],
        );
        n
    }

    pub fn lrn(&mut self, x: &str) -> String {
        let n = self.name("lrn");
        self.m.node(
            "LRN",
            &n,
            &[x],
            &n,
            vec![
                ("size", A::I(5)),
                ("alpha", A::F(1e-4)),
                ("beta", A::F(0.75)),
                ("bias", A::F(1.0)),
            ],
        );
        n
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        let n = self.name("concat");
        self.m
            .node("Concat", &n, xs, &n, vec![("axis", A::I(axis))]);
        n
    }

    pub fn binary(&mut self, op: &str, a: &str, b: &str) -> String {
        let n = self.name(&op.to_lowercase());
        self.m.node(op, &n, &[a, b], &n, vec![]);
        n
    }

    pub fn unary(&mut self, op: &str, x: &str, attrs: Vec<(&str, A)>) -> String {
        let n = self.name(&op.to_lowercase());
        self.m.node(op, &n, &[x], &n, attrs);
        n
    }

    pub fn constant(&mut self, t: &Tensor) -> String {
        let n = self.name("const");
        self.m.weight(&n, t);
        n
    }

    /// An inception block: 1x1; 1x1 → 3x3; 1x1 → k5 x k5; maxpool 3x3 → 1x1. torchvision's
    /// GoogLeNet has a 3x3 in the third branch (`k5 = 3`), BatchNormalization and a
    /// ceil-mode pool; the Caffe/Lucid one a 5x5 with biases.
    #[allow(clippy::too_many_arguments)]
    pub fn inception(
        &mut self,
        x: &str,
        cin: usize,
        c1: usize,
        c3: (usize, usize),
        c5: (usize, usize),
        cp: usize,
        k5: usize,
        bn: bool,
    ) -> (String, usize) {
        let b1 = self.conv(x, cin, c1, 1, 1, 0, bn, true);
        let r3 = self.conv(x, cin, c3.0, 1, 1, 0, bn, true);
        let b3 = self.conv(&r3, c3.0, c3.1, 3, 1, 1, bn, true);
        let r5 = self.conv(x, cin, c5.0, 1, 1, 0, bn, true);
        let b5 = self.conv(&r5, c5.0, c5.1, k5, 1, k5 / 2, bn, true);
        let p = self.maxpool(x, 3, 1, 1, bn);
        let bp = self.conv(&p, cin, cp, 1, 1, 0, bn, true);
        let out = self.concat(&[&b1, &b3, &b5, &bp], 1);
        (out, c1 + c3.1 + c5.1 + cp)
    }
}

/// A GoogLeNet, torchvision form (`caffe` false: BatchNormalization, ceil-mode max
/// pools, 3x3 in the "5x5" branch) or Caffe/Lucid form (LRN, biases, 5x5). Returns the
/// builder and the names of its inner tensors, in order: stem conv, pool1, conv3, pool2,
/// inception a, inception b, pool3, inception c.
pub fn googlenet(
    seed: u64,
    caffe: bool,
    batch: Option<usize>,
    hw: usize,
) -> (ModelBuilder, Vec<String>) {
    let mut n = Net::new(seed, "image", &[batch, Some(3), Some(hw), Some(hw)]);
    let bn = !caffe;
    let k5 = if caffe { 5 } else { 3 };
    let mut names = Vec::new();
    let c1 = n.conv("image", 3, 16, 7, 2, 3, bn, true);
    names.push(c1.clone());
    let mut x = if caffe {
        let p = n.maxpool(&c1, 3, 2, 0, true);
        n.lrn(&p)
    } else {
        n.maxpool(&c1, 3, 2, 0, true)
    };
    names.push(x.clone());
    let c2 = n.conv(&x, 16, 16, 1, 1, 0, bn, true);
    x = n.conv(&c2, 16, 48, 3, 1, 1, bn, true);
    if caffe {
        x = n.lrn(&x);
    }
    names.push(x.clone());
    x = n.maxpool(&x, 3, 2, 0, true);
    names.push(x.clone());
    let (a, ca) = n.inception(&x, 48, 16, (24, 32), (4, 8), 8, k5, bn);
    names.push(a.clone());
    let (b, cb) = n.inception(&a, ca, 32, (32, 48), (8, 24), 16, k5, bn);
    names.push(b.clone());
    x = n.maxpool(&b, 3, 2, 0, true);
    names.push(x.clone());
    let (c, _) = n.inception(&x, cb, 48, (24, 52), (4, 12), 16, k5, bn);
    names.push(c.clone());
    (n.m, names)
}

/// A ResNet stem and bottleneck stack (1x1 → 3x3 → 1x1 with BatchNormalization, projection
/// shortcuts where the shape changes, residual Add then Relu). Returns the builder and the
/// outputs of the stem pool and of each block.
pub fn resnet(seed: u64, hw: usize) -> (ModelBuilder, Vec<String>) {
    let mut n = Net::new(seed, "image", &[None, Some(3), Some(hw), Some(hw)]);
    let mut names = Vec::new();
    let s = n.conv("image", 3, 16, 7, 2, 3, true, true);
    let mut x = n.maxpool(&s, 3, 2, 1, false);
    names.push(x.clone());
    let mut cin = 16;
    for (width, stride) in [(8, 1), (8, 1), (16, 2), (16, 1)] {
        x = n.bottleneck(&x, cin, width, stride);
        names.push(x.clone());
        cin = width * 4;
    }
    (n.m, names)
}

/// torchvision's ResNet-50 (v1.5: the stride on the 3x3) at its real widths, seeded random
/// weights, up to layer4. Returns the builder and the names of the outputs of layer3 and
/// layer4.
pub fn resnet50_full(seed: u64, hw: usize) -> (ModelBuilder, [String; 2]) {
    let mut n = Net::new(seed, "image", &[None, Some(3), Some(hw), Some(hw)]);
    let s = n.conv("image", 3, 64, 7, 2, 3, true, true);
    let mut x = n.maxpool(&s, 3, 2, 1, false);
    let mut cin = 64;
    let mut ends = Vec::new();
    for (width, blocks, stride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
        for b in 0..blocks {
            x = n.bottleneck(&x, cin, width, if b == 0 { stride } else { 1 });
            cin = width * 4;
        }
        ends.push(x.clone());
    }
    (n.m, [ends[2].clone(), ends[3].clone()])
}

/// A DenseNet block (BN → Relu → 1x1 → BN → Relu → 3x3, each layer's output concatenated
/// to its input) and a transition (BN → Relu → 1x1 → 2x2 average pool). Returns the
/// builder and the outputs of the stem, of each dense layer and of the transition.
pub fn densenet(seed: u64, hw: usize) -> (ModelBuilder, Vec<String>) {
    let mut n = Net::new(seed, "image", &[None, Some(3), Some(hw), Some(hw)]);
    let mut names = Vec::new();
    let s = n.conv("image", 3, 16, 3, 2, 1, true, true);
    let mut x = n.maxpool(&s, 3, 2, 1, false);
    names.push(x.clone());
    let (mut c, growth) = (16, 8);
    for _ in 0..4 {
        let b = n.bn(&x, c);
        let r = n.relu(&b);
        let a = n.conv(&r, c, 4 * growth, 1, 1, 0, true, true);
        let y = n.conv(&a, 4 * growth, growth, 3, 1, 1, false, false);
        x = n.concat(&[&x, &y], 1);
        c += growth;
        names.push(x.clone());
    }
    let b = n.bn(&x, c);
    let r = n.relu(&b);
    let t = n.conv(&r, c, c / 2, 1, 1, 0, false, false);
    x = n.avgpool(&t, 2, 2);
    names.push(x);
    (n.m, names)
}

/// A ViT-style stem and pre-norm encoder block as torch exports it before opset 17:
/// patch conv, Reshape + Transpose to tokens, a class token Concat, position Add,
/// LayerNorm decomposed (ReduceMean, Sub, Pow, Add, Sqrt, Div), single-head attention
/// (MatMul, Transpose, Div, Softmax), exact GELU decomposed (Div, Erf, Add, Mul). Returns
/// the builder and inner tensors ([N, tokens, C] from the token stage on).
pub fn vit_block(seed: u64, hw: usize, patch: usize, dim: usize) -> (ModelBuilder, Vec<String>) {
    let mut n = Net::new(seed, "image", &[Some(1), Some(3), Some(hw), Some(hw)]);
    let mut names = Vec::new();
    let tokens = (hw / patch) * (hw / patch);
    let p = n.conv("image", 3, dim, patch, patch, 0, false, false);
    let shape = n.name("shape");
    n.m.ints(&shape, &[1, dim as i64, tokens as i64]);
    let flat = n.name("flat");
    n.m.node("Reshape", &flat, &[&p, &shape], &flat, vec![]);
    let t = n.unary("Transpose", &flat, vec![("perm", ints(&[0, 2, 1]))]);
    let cls = n.scaled(&[1, 1, dim], 1);
    let cls = n.constant(&cls);
    let x0 = n.concat(&[&cls, &t], 1);
    let pos = n.scaled(&[1, tokens + 1, dim], 4);
    let pos = n.constant(&pos);
    let x = n.binary("Add", &x0, &pos);
    names.push(x.clone());
    let ln = layer_norm_decomposed(&mut n, &x, dim);
    names.push(ln.clone());
    let proj = |n: &mut Net, x: &str| {
        let w = n.scaled(&[dim, dim], dim);
        let w = n.constant(&w);
        n.binary("MatMul", x, &w)
    };
    let (q, k, v) = (proj(&mut n, &ln), proj(&mut n, &ln), proj(&mut n, &ln));
    let kt = n.unary("Transpose", &k, vec![("perm", ints(&[0, 2, 1]))]);
    let s = n.binary("MatMul", &q, &kt);
    let scale = n.constant(&Tensor::new(vec![], vec![(dim as f32).sqrt()]).unwrap());
    let s = n.binary("Div", &s, &scale);
    let a = n.unary("Softmax", &s, vec![("axis", A::I(-1))]);
    names.push(a.clone());
    let o = n.binary("MatMul", &a, &v);
    let o = proj(&mut n, &o);
    let x = n.binary("Add", &x, &o);
    names.push(x.clone());
    let ln = layer_norm_decomposed(&mut n, &x, dim);
    let h = proj(&mut n, &ln);
    let sqrt2 = n.constant(&Tensor::new(vec![], vec![std::f32::consts::SQRT_2]).unwrap());
    let one = n.constant(&Tensor::new(vec![], vec![1.0]).unwrap());
    let half = n.constant(&Tensor::new(vec![], vec![0.5]).unwrap());
    let d = n.binary("Div", &h, &sqrt2);
    let e = n.unary("Erf", &d, vec![]);
    let e1 = n.binary("Add", &e, &one);
    let g = n.binary("Mul", &h, &e1);
    let g = n.binary("Mul", &g, &half);
    names.push(g.clone());
    let o = proj(&mut n, &g);
    let x = n.binary("Add", &x, &o);
    names.push(x);
    (n.m, names)
}

fn layer_norm_decomposed(n: &mut Net, x: &str, dim: usize) -> String {
    let mean = n.unary("ReduceMean", x, vec![("axes", ints(&[-1]))]);
    let d = n.binary("Sub", x, &mean);
    let two = n.constant(&Tensor::new(vec![], vec![2.0]).unwrap());
    let sq = n.binary("Pow", &d, &two);
    let var = n.unary("ReduceMean", &sq, vec![("axes", ints(&[-1]))]);
    let eps = n.constant(&Tensor::new(vec![], vec![1e-6]).unwrap());
    let ve = n.binary("Add", &var, &eps);
    let sd = n.unary("Sqrt", &ve, vec![]);
    let y = n.binary("Div", &d, &sd);
    let g: Vec<f32> = n.r.vec(dim).iter().map(|v| 1.0 + 0.2 * v).collect();
    let g = n.constant(&Tensor::new(vec![dim], g).unwrap());
    let b: Vec<f32> = n.r.vec(dim).iter().map(|v| 0.1 * v).collect();
    let b = n.constant(&Tensor::new(vec![dim], b).unwrap());
    let y = n.binary("Mul", &y, &g);
    n.binary("Add", &y, &b)
}

/// torchvision's GoogLeNet at its real widths (BatchNormalization, ceil-mode pools, 3x3
/// in the "5x5" branch), seeded random weights, up to inception 5b. Returns the builder and
/// the names of the outputs of inception 4a and 5b.
pub fn googlenet_full(seed: u64, hw: usize) -> (ModelBuilder, [String; 2]) {
    let mut n = Net::new(seed, "image", &[None, Some(3), Some(hw), Some(hw)]);
    let x = n.conv("image", 3, 64, 7, 2, 3, true, true);
    let x = n.maxpool(&x, 3, 2, 0, true);
    let x = n.conv(&x, 64, 64, 1, 1, 0, true, true);
    let x = n.conv(&x, 64, 192, 3, 1, 1, true, true);
    let mut x = n.maxpool(&x, 3, 2, 0, true);
    let mut c = 192;
    let mut names = Vec::new();
    let blocks = [
        (64, (96, 128), (16, 32), 32, false),     // 3a
        (128, (128, 192), (32, 96), 64, true),    // 3b, then pool
        (192, (96, 208), (16, 48), 64, false),    // 4a
        (160, (112, 224), (24, 64), 64, false),   // 4b
        (128, (128, 256), (24, 64), 64, false),   // 4c
        (112, (144, 288), (32, 64), 64, false),   // 4d
        (256, (160, 320), (32, 128), 128, true),  // 4e, then pool
        (256, (160, 320), (32, 128), 128, false), // 5a
        (384, (192, 384), (48, 128), 128, false), // 5b
    ];
    for (c1, c3, c5, cp, pool) in blocks {
        let (y, cy) = n.inception(&x, c, c1, c3, c5, cp, 3, true);
        names.push(y.clone());
        x = if pool {
            n.maxpool(&y, 2, 2, 0, true)
        } else {
            y
        };
        c = cy;
    }
    (n.m, [names[2].clone(), names[8].clone()])
}
