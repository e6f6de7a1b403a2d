//! Every GPU kernel against the CPU reference on seeded random inputs, one single-node
//! model per case, including odd sizes (1×1, sizes that are not multiples of the
//! workgroup size, padding, stride, dilation, groups, ceil_mode, broadcasting).
//! Tolerance: |gpu − cpu| ≤ 1e-4·|cpu| + 1e-5·max(1, max|cpu|).

mod common;

use common::{assert_close, gpu, ModelBuilder, Rng, A};
use exemplar_engine::onnx::TensorProto;
use exemplar_engine::{Engine, GpuContext, Tensor};

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

struct Case {
    name: String,
    model: ModelBuilder,
    input: Tensor,
}

fn single(
    name: &str,
    op: &str,
    x: Tensor,
    weights: Vec<(&str, Tensor)>,
    attrs: Vec<(&str, A)>,
) -> Case {
    let mut m = ModelBuilder::new("x", &x.shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
    let mut inputs = vec!["x".to_string()];
    for (n, t) in &weights {
        m.weight(n, t);
        inputs.push(n.to_string());
    }
    let refs: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
    m.node(op, name, &refs, "y", attrs);
    Case {
        name: name.to_string(),
        model: m,
        input: x,
    }
}

/// `w` is (output channels, kernel height, kernel width).
fn conv(
    rng: &mut Rng,
    name: &str,
    x: &[usize],
    w: [usize; 3],
    group: usize,
    bias: bool,
    attrs: Vec<(&str, A)>,
) -> Case {
    let [m, kh, kw] = w;
    let w = rng.tensor(&[m, x[1] / group, kh, kw]);
    let mut ws = vec![("w", w)];
    if bias {
        ws.push(("b", rng.tensor(&[m])));
    }
    let mut attrs = attrs;
    attrs.push(("group", A::I(group as i64)));
    single(name, "Conv", rng.tensor(x), ws, attrs)
}

fn cases() -> Vec<Case> {
    let mut r = Rng::new(20240601);
    let ints = |v: &[i64]| A::Ints(v.to_vec());
    let mut c = vec![
        conv(
            &mut r,
            "conv 3x3 pad 1",
            &[1, 3, 7, 7],
            [5, 3, 3],
            1,
            true,
            vec![("pads", ints(&[1, 1, 1, 1]))],
        ),
        conv(
            &mut r,
            "conv stride 2 asymmetric pads",
            &[2, 4, 9, 11],
            [6, 3, 3],
            1,
            true,
            vec![("strides", ints(&[2, 2])), ("pads", ints(&[1, 0, 2, 1]))],
        ),
        conv(
            &mut r,
            "conv dilation 2",
            &[1, 3, 13, 10],
            [4, 3, 3],
            1,
            true,
            vec![("dilations", ints(&[2, 2])), ("pads", ints(&[2, 2, 2, 2]))],
        ),
        conv(
            &mut r,
            "conv groups 2",
            &[1, 6, 8, 8],
            [4, 3, 3],
            2,
            true,
            vec![("pads", ints(&[1, 1, 1, 1]))],
        ),
        conv(
            &mut r,
            "conv depthwise",
            &[2, 8, 9, 9],
            [8, 3, 3],
            8,
            true,
            vec![("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))],
        ),
        conv(
            &mut r,
            "conv 1x1 on 1x1",
            &[1, 5, 1, 1],
            [3, 1, 1],
            1,
            false,
            vec![],
        ),
        conv(
            &mut r,
            "conv 7x7 stride 2 (stem)",
            &[1, 3, 33, 33],
            [16, 7, 7],
            1,
            true,
            vec![("strides", ints(&[2, 2])), ("pads", ints(&[3, 3, 3, 3]))],
        ),
        conv(
            &mut r,
            "conv non-square kernel",
            &[1, 2, 10, 7],
            [3, 1, 3],
            1,
            true,
            vec![],
        ),
        conv(
            &mut r,
            "conv auto_pad SAME_UPPER stride 2",
            &[1, 3, 10, 9],
            [4, 3, 3],
            1,
            true,
            vec![("auto_pad", A::S("SAME_UPPER")), ("strides", ints(&[2, 2]))],
        ),
        conv(
            &mut r,
            "conv auto_pad SAME_LOWER",
            &[1, 3, 6, 6],
            [2, 4, 4],
            1,
            true,
            vec![("auto_pad", A::S("SAME_LOWER"))],
        ),
        conv(
            &mut r,
            "conv auto_pad VALID",
            &[1, 3, 6, 5],
            [2, 3, 2],
            1,
            true,
            vec![("auto_pad", A::S("VALID"))],
        ),
    ];
    for (name, op) in [("relu", "Relu"), ("sigmoid", "Sigmoid")] {
        c.push(single(name, op, r.tensor(&[1000]), vec![], vec![]));
    }
    c.push(single(
        "clip (attributes)",
        "Clip",
        r.tensor(&[3, 7, 5]),
        vec![],
        vec![("min", A::F(-0.3)), ("max", A::F(0.5))],
    ));
    let lo = Tensor::new(vec![], vec![-0.2]).unwrap();
    let hi = Tensor::new(vec![], vec![0.6]).unwrap();
    c.push(single(
        "clip (inputs)",
        "Clip",
        r.tensor(&[2, 3, 5, 5]),
        vec![("lo", lo), ("hi", hi)],
        vec![],
    ));
    for (b, shape) in [
        ("channel", vec![3, 1, 1]),
        ("last axis", vec![5]),
        ("scalar", vec![1]),
        ("mixed", vec![2, 1, 4, 1]),
        ("same", vec![2, 3, 4, 5]),
    ] {
        let bt = r.tensor(&shape);
        c.push(single(
            &format!("add broadcast {b}"),
            "Add",
            r.tensor(&[2, 3, 4, 5]),
            vec![("b", bt.clone())],
            vec![],
        ));
        c.push(single(
            &format!("mul broadcast {b}"),
            "Mul",
            r.tensor(&[2, 3, 4, 5]),
            vec![("b", bt)],
            vec![],
        ));
    }
    c.push(single(
        "add, input broadcast up",
        "Add",
        r.tensor(&[4, 1]),
        vec![("b", r.tensor(&[3, 1, 5]))],
        vec![],
    ));
    let mut m = ModelBuilder::new("x", &[Some(67)]);
    m.node("Mul", "square", &["x", "x"], "y", vec![]);
    c.push(Case {
        name: "mul of the input with itself".into(),
        model: m,
        input: r.tensor(&[67]),
    });
    let pool = |r: &mut Rng, name: &str, op: &str, x: &[usize], attrs: Vec<(&str, A)>| {
        single(name, op, r.tensor(x), vec![], attrs)
    };
    c.extend([
        pool(
            &mut r,
            "maxpool 3x3 s2 ceil",
            "MaxPool",
            &[1, 3, 8, 8],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("ceil_mode", A::I(1)),
            ],
        ),
        pool(
            &mut r,
            "maxpool 3x3 s2 ceil odd",
            "MaxPool",
            &[2, 5, 13, 11],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("ceil_mode", A::I(1)),
            ],
        ),
        pool(
            &mut r,
            "maxpool pads",
            "MaxPool",
            &[1, 2, 7, 7],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("pads", ints(&[1, 1, 1, 1])),
            ],
        ),
        pool(
            &mut r,
            "maxpool dilation",
            "MaxPool",
            &[1, 2, 9, 9],
            vec![
                ("kernel_shape", ints(&[2, 2])),
                ("dilations", ints(&[2, 2])),
            ],
        ),
        pool(
            &mut r,
            "maxpool same_upper",
            "MaxPool",
            &[1, 2, 7, 6],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("auto_pad", A::S("SAME_UPPER")),
            ],
        ),
        pool(
            &mut r,
            "avgpool exclude pad",
            "AveragePool",
            &[1, 3, 7, 7],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("pads", ints(&[1, 1, 1, 1])),
            ],
        ),
        pool(
            &mut r,
            "avgpool include pad",
            "AveragePool",
            &[1, 3, 7, 7],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("pads", ints(&[1, 1, 1, 1])),
                ("count_include_pad", A::I(1)),
            ],
        ),
        pool(
            &mut r,
            "avgpool ceil",
            "AveragePool",
            &[1, 3, 8, 8],
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("ceil_mode", A::I(1)),
            ],
        ),
        pool(
            &mut r,
            "avgpool 1x1",
            "AveragePool",
            &[1, 1, 1, 1],
            vec![("kernel_shape", ints(&[1, 1]))],
        ),
        pool(
            &mut r,
            "global average 13x13",
            "GlobalAveragePool",
            &[2, 5, 13, 13],
            vec![],
        ),
        pool(
            &mut r,
            "global average 1x1",
            "GlobalAveragePool",
            &[1, 3, 1, 1],
            vec![],
        ),
        pool(
            &mut r,
            "lrn size 5",
            "LRN",
            &[2, 7, 5, 3],
            vec![
                ("size", A::I(5)),
                ("alpha", A::F(1e-2)),
                ("beta", A::F(0.75)),
                ("bias", A::F(1.0)),
            ],
        ),
        pool(
            &mut r,
            "lrn size 4 bias 2",
            "LRN",
            &[1, 6, 4, 4],
            vec![
                ("size", A::I(4)),
                ("alpha", A::F(0.5)),
                ("beta", A::F(0.6)),
                ("bias", A::F(2.0)),
            ],
        ),
        pool(
            &mut r,
            "flatten",
            "Flatten",
            &[2, 3, 4, 5],
            vec![("axis", A::I(2))],
        ),
    ]);
    for (axis, shapes) in [
        (1i64, [[2, 3, 4, 5], [2, 1, 4, 5]]),
        (0, [[2, 3, 4, 5], [1, 3, 4, 5]]),
        (-1, [[2, 3, 4, 5], [2, 3, 4, 2]]),
        (2, [[1, 2, 3, 1], [1, 2, 6, 1]]),
    ] {
        let other = r.tensor(&shapes[1]);
        let mut m = ModelBuilder::new("x", &shapes[0].iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.weight("c", &other).node(
            "Concat",
            "concat",
            &["x", "c", "x"],
            "y",
            vec![("axis", A::I(axis))],
        );
        c.push(Case {
            name: format!("concat axis {axis}"),
            model: m,
            input: r.tensor(&shapes[0]),
        });
    }
    let bn = |r: &mut Rng, n: usize| {
        let var: Vec<f32> = r.vec(n).iter().map(|v| v.abs() + 0.1).collect();
        vec![
            ("s", r.tensor(&[n])),
            ("b", r.tensor(&[n])),
            ("m", r.tensor(&[n])),
            ("v", Tensor::new(vec![n], var).unwrap()),
        ]
    };
    let ws = bn(&mut r, 4);
    c.push(single(
        "batchnorm (not after a conv)",
        "BatchNormalization",
        r.tensor(&[2, 4, 3, 5]),
        ws,
        vec![("epsilon", A::F(1e-3))],
    ));
    c.extend([
        single(
            "gemm",
            "Gemm",
            r.tensor(&[3, 70]),
            vec![("b", r.tensor(&[70, 5])), ("c", r.tensor(&[5]))],
            vec![],
        ),
        single(
            "gemm transB alpha beta",
            "Gemm",
            r.tensor(&[2, 9]),
            vec![("b", r.tensor(&[11, 9])), ("c", r.tensor(&[2, 11]))],
            vec![
                ("transB", A::I(1)),
                ("alpha", A::F(0.5)),
                ("beta", A::F(2.0)),
            ],
        ),
        single(
            "gemm transA no bias",
            "Gemm",
            r.tensor(&[9, 2]),
            vec![("b", r.tensor(&[9, 4]))],
            vec![("transA", A::I(1))],
        ),
        single(
            "gemm column bias",
            "Gemm",
            r.tensor(&[3, 4]),
            vec![("b", r.tensor(&[4, 6])), ("c", r.tensor(&[3, 1]))],
            vec![],
        ),
        single(
            "matmul 4-D by 2-D",
            "MatMul",
            r.tensor(&[2, 3, 4, 5]),
            vec![("b", r.tensor(&[5, 6]))],
            vec![],
        ),
        single(
            "matmul by vector",
            "MatMul",
            r.tensor(&[3, 5]),
            vec![("b", r.tensor(&[5]))],
            vec![],
        ),
        single(
            "matmul broadcast batch",
            "MatMul",
            r.tensor(&[2, 1, 4, 5]),
            vec![("b", r.tensor(&[3, 5, 6]))],
            vec![],
        ),
        single(
            "matmul vector by matrix",
            "MatMul",
            r.tensor(&[7]),
            vec![("b", r.tensor(&[7, 3]))],
            vec![],
        ),
    ]);
    c.extend(vit_cases(&mut r));
    c.extend(shape_op_cases(&mut r));
    let mut m = ModelBuilder::new("x", &[Some(2), Some(12)]);
    m.ints("shape", &[0, 3, -1])
        .node("Reshape", "reshape", &["x", "shape"], "y", vec![]);
    c.push(Case {
        name: "reshape 0 and -1".into(),
        model: m,
        input: r.tensor(&[2, 12]),
    });
    c
}

/// Expand, Pad, Where and Split on computed tensors (what remains of torch exports' shape
/// arithmetic once constants are folded): broadcasting on every side, rank changes, all
/// four pad modes, negative pads, pads on some axes only.
fn shape_op_cases(r: &mut Rng) -> Vec<Case> {
    let mut c = Vec::new();
    for (shape, to) in [
        (vec![1, 1, 7], vec![3, 5, 7]),
        (vec![3, 1], vec![2, 1, 3, 67]),
        (vec![2, 1, 4, 1], vec![2, 3, 1, 5]),
        (vec![5], vec![5]),
    ] {
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.ints("shape", &to)
            .node("Expand", "expand", &["x", "shape"], "y", vec![]);
        c.push(Case {
            name: format!("expand {shape:?} to {to:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    for (mode, pads, axes, shape) in [
        (
            "constant",
            vec![0, 0, 1, 2, 0, 0, 3, 1],
            None,
            vec![2, 3, 5, 4],
        ),
        ("constant", vec![0, 1, -1, 0, 2, -2], None, vec![3, 4, 6]),
        ("edge", vec![0, 0, 2, 2, 0, 0, 2, 2], None, vec![1, 2, 5, 7]),
        (
            "reflect",
            vec![0, 0, 3, 1, 0, 0, 2, 3],
            None,
            vec![1, 3, 4, 5],
        ),
        ("reflect", vec![2, 1], Some(vec![-1]), vec![2, 3, 4]),
        (
            "constant",
            vec![1, 0, 2, 1],
            Some(vec![1, 3]),
            vec![1, 2, 3, 65],
        ),
        ("wrap", vec![0, 0, 1, 2, 0, 0, 1, 1], None, vec![1, 3, 4, 5]),
        // More than the axis on one side; cropping on one side and wrapping on the other.
        ("wrap", vec![0, 5, -1, 0, 1, 2], None, vec![2, 3, 4]),
        ("wrap", vec![3, 1], Some(vec![-2]), vec![2, 3, 2]),
    ] {
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        if mode == "wrap" {
            m.opset(19);
        }
        m.ints("pads", &pads)
            .weight("value", &Tensor::new(vec![], vec![0.75]).unwrap());
        let mut ins = vec!["x", "pads", "value"];
        if let Some(a) = &axes {
            m.ints("axes", a);
            ins.push("axes");
        }
        m.node("Pad", "pad", &ins, "y", vec![("mode", A::S(mode))]);
        c.push(Case {
            name: format!("pad {mode} {pads:?} axes {axes:?} of {shape:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    for (cond, other, shape) in [
        (vec![4, 1], vec![1, 1], vec![2, 4, 7]),
        (vec![2, 1, 7], vec![4, 7], vec![2, 4, 7]),
        (vec![1], vec![3, 1, 1, 1], vec![1, 5, 3, 2]),
    ] {
        let len: usize = cond.iter().product();
        let bits: Vec<i64> = (0..len).map(|i| i64::from(i % 3 != 1)).collect();
        let mut t = TensorProto::from_i64("cond", &cond, &bits);
        t.data_type = 9; // BOOL (in int32_data)
        t.int64_data.clear();
        t.int32_data = bits.iter().map(|&b| b as i32).collect();
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.initializer(t).weight("other", &r.tensor(&other)).node(
            "Where",
            "where",
            &["cond", "x", "other"],
            "y",
            vec![],
        );
        c.push(Case {
            name: format!("where cond {cond:?} of {shape:?} else {other:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    c
}

/// The operators of ConvNeXt and ViT exports (and their decompositions): odd sizes,
/// rows longer than a workgroup, every axis, broadcasting, negative bases.
fn vit_cases(r: &mut Rng) -> Vec<Case> {
    let ints = |v: &[i64]| A::Ints(v.to_vec());
    let mut c = Vec::new();
    for (name, op) in [("erf", "Erf"), ("tanh", "Tanh"), ("gelu", "Gelu")] {
        // Wide range: erf's two branches, tanh's saturation.
        let mut x = r.tensor(&[3, 50, 7]);
        x.data.iter_mut().for_each(|v| *v *= 6.0);
        c.push(single(name, op, x, vec![], vec![]));
    }
    let mut x = r.tensor(&[2, 67]);
    x.data.iter_mut().for_each(|v| *v *= 6.0);
    c.push(single(
        "gelu tanh",
        "Gelu",
        x,
        vec![],
        vec![("approximate", A::S("tanh"))],
    ));
    let mut x = r.tensor(&[5, 13]);
    x.data.iter_mut().for_each(|v| *v = v.abs() * 9.0);
    c.push(single("sqrt", "Sqrt", x, vec![], vec![]));
    c.push(single(
        "sub broadcast",
        "Sub",
        r.tensor(&[2, 3, 5, 7]),
        vec![("b", r.tensor(&[3, 1, 7]))],
        vec![],
    ));
    let mut d = r.tensor(&[1, 5, 1]);
    d.data
        .iter_mut()
        .for_each(|v| *v = v.signum() * (v.abs() + 0.5));
    c.push(single(
        "div broadcast",
        "Div",
        r.tensor(&[4, 5, 9]),
        vec![("b", d)],
        vec![],
    ));
    c.push(single(
        "pow 2 of negatives",
        "Pow",
        r.tensor(&[3, 77]),
        vec![("b", Tensor::new(vec![], vec![2.0]).unwrap())],
        vec![],
    ));
    c.push(single(
        "pow 3 of negatives",
        "Pow",
        r.tensor(&[2, 33]),
        vec![("b", Tensor::new(vec![1], vec![3.0]).unwrap())],
        vec![],
    ));
    let mut x = r.tensor(&[4, 9]);
    x.data.iter_mut().for_each(|v| *v = v.abs() + 0.1);
    c.push(single(
        "pow fractional broadcast",
        "Pow",
        x,
        vec![("b", r.tensor(&[9]))],
        vec![],
    ));
    for (axis, shape) in [
        (-1, vec![2, 5, 197]),
        (1, vec![2, 13, 3, 5]),
        (0, vec![7, 3]),
        (2, vec![1, 3, 65, 2]),
    ] {
        let mut x = r.tensor(&shape);
        x.data.iter_mut().for_each(|v| *v *= 10.0);
        c.push(single(
            &format!("softmax axis {axis} of {shape:?}"),
            "Softmax",
            x.clone(),
            vec![],
            vec![("axis", A::I(axis))],
        ));
        c.push(single(
            &format!("logsoftmax axis {axis} of {shape:?}"),
            "LogSoftmax",
            x,
            vec![],
            vec![("axis", A::I(axis))],
        ));
    }
    for (axis, shape) in [
        (-1, vec![2, 50, 77]),
        (1, vec![3, 4, 5]),
        (-3, vec![1, 7, 7, 96]),
        (0, vec![3, 1]),
    ] {
        let a = if axis < 0 {
            axis + shape.len() as i64
        } else {
            axis
        } as usize;
        let norm = &shape[a..];
        let mut x = r.tensor(&shape);
        x.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = *v * 3.0 + (i % 5) as f32);
        c.push(single(
            &format!("layernorm axis {axis} of {shape:?}"),
            "LayerNormalization",
            x,
            vec![("s", r.tensor(norm)), ("b", r.tensor(norm))],
            vec![("axis", A::I(axis)), ("epsilon", A::F(1e-6))],
        ));
    }
    c.push(single(
        "layernorm no bias, scale over the last axis",
        "LayerNormalization",
        r.tensor(&[2, 3, 65]),
        vec![("s", r.tensor(&[65]))],
        vec![],
    ));
    for (axes, keep, shape) in [
        (vec![-1], 1, vec![2, 5, 131]),
        (vec![2, 3], 1, vec![2, 3, 7, 9]),
        (vec![1], 0, vec![2, 50, 13]),
        (vec![0, 2], 0, vec![3, 4, 5]),
    ] {
        c.push(single(
            &format!("reducemean axes {axes:?} keepdims {keep} of {shape:?}"),
            "ReduceMean",
            r.tensor(&shape),
            vec![],
            vec![("axes", ints(&axes)), ("keepdims", A::I(keep))],
        ));
    }
    c.push(single(
        "reducemean all",
        "ReduceMean",
        r.tensor(&[3, 5, 7]),
        vec![],
        vec![],
    ));
    for (perm, shape) in [
        (vec![0, 2, 1], vec![2, 49, 65]),
        (vec![0, 2, 3, 1], vec![2, 5, 7, 3]),
        (vec![2, 0, 3, 1, 4], vec![3, 2, 4, 5, 1]),
        (vec![1, 0], vec![1, 17]),
    ] {
        c.push(single(
            &format!("transpose {perm:?} of {shape:?}"),
            "Transpose",
            r.tensor(&shape),
            vec![],
            vec![("perm", ints(&perm))],
        ));
    }
    c.push(single(
        "transpose default",
        "Transpose",
        r.tensor(&[3, 4, 5]),
        vec![],
        vec![],
    ));
    for (axis, idx, ishape, shape) in [
        (1, vec![0], vec![], vec![2, 50, 13]),
        (0, vec![2, -1, 0], vec![3], vec![3, 4, 5]),
        (2, vec![1, 0, 3, 3], vec![2, 2], vec![2, 3, 4]),
    ] {
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.ints_shaped("i", &ishape, &idx).node(
            "Gather",
            "gather",
            &["x", "i"],
            "y",
            vec![("axis", A::I(axis))],
        );
        c.push(Case {
            name: format!("gather axis {axis} {idx:?} of {shape:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    for (starts, ends, axes, steps, shape) in [
        (vec![0], vec![1], vec![1], vec![1], vec![2, 50, 13]),
        (
            vec![1, -1],
            vec![1000, 0],
            vec![1, 2],
            vec![2, -3],
            vec![2, 9, 11],
        ),
        (vec![-2], vec![-100], vec![-1], vec![-1], vec![3, 7]),
        (
            vec![1, 0, 2],
            vec![3, 5, 4],
            vec![0, 1, 3],
            vec![1, 2, 1],
            vec![4, 5, 3, 6],
        ),
    ] {
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.ints("starts", &starts)
            .ints("ends", &ends)
            .ints("axes", &axes)
            .ints("steps", &steps)
            .node(
                "Slice",
                "slice",
                &["x", "starts", "ends", "axes", "steps"],
                "y",
                vec![],
            );
        c.push(Case {
            name: format!("slice {starts:?}..{ends:?} axes {axes:?} steps {steps:?} of {shape:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    // Split as slices: sizes as an input (opset 13), equal parts by the number of outputs
    // (the last one smaller, opset 18), an odd size along the last axis.
    for (opset, axis, split, shape) in [
        (13, 1, Some(vec![2, 3, 1]), vec![2, 6, 5]),
        (18, -1, None, vec![3, 2, 67]),
        (13, 0, Some(vec![1, 0, 3]), vec![4, 3]),
    ] {
        let mut m = ModelBuilder::new("x", &shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.opset(opset);
        let mut ins = vec!["x"];
        let mut attrs = vec![("axis", A::I(axis))];
        if let Some(s) = &split {
            m.ints("split", s);
            ins.push("split");
        } else {
            attrs.push(("num_outputs", A::I(3)));
        }
        m.node_outputs("Split", "split", &ins, &["a", "y", "b"], attrs);
        c.push(Case {
            name: format!("split {split:?} axis {axis} of {shape:?}"),
            model: m,
            input: r.tensor(&shape),
        });
    }
    // Views between kernels: Unsqueeze, Squeeze (axes as inputs, opset 13).
    let mut m = ModelBuilder::new("x", &[Some(2), Some(3), Some(5)]);
    m.ints("ua", &[0, 3])
        .ints("sa", &[0])
        .node("Unsqueeze", "unsq", &["x", "ua"], "u", vec![])
        .node("Relu", "relu", &["u"], "ru", vec![])
        .node("Squeeze", "sq", &["ru", "sa"], "y", vec![]);
    c.push(Case {
        name: "unsqueeze relu squeeze".into(),
        model: m,
        input: r.tensor(&[2, 3, 5]),
    });
    c
}

fn run_case(gpu: &GpuContext, case: &Case) -> f32 {
    let bytes = case.model.bytes();
    let cpu = Engine::load(&bytes, "y", None).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let want = cpu
        .target_tensor_blocking(&case.input)
        .unwrap_or_else(|e| panic!("{} (cpu): {e}", case.name));
    let eng = Engine::load(&bytes, "y", Some(gpu)).unwrap();
    let got = eng
        .target_tensor_blocking(&case.input)
        .unwrap_or_else(|e| panic!("{} (gpu): {e}", case.name));
    assert_close(&case.name, &got, &want, RTOL, ATOL)
}

#[test]
fn every_kernel_matches_the_cpu_reference() {
    let Some(gpu) = gpu() else { return };
    let cases = cases();
    for case in &cases {
        let worst = run_case(&gpu, case);
        eprintln!("ok  {:<40} max |gpu - cpu| = {worst:.2e}", case.name);
    }
    assert!(cases.len() >= 50, "only {} cases", cases.len());
}

/// More than 65,535 workgroups in one dispatch: the grid is spread over two dimensions.
#[test]
fn dispatches_beyond_the_grid_limit_are_split() {
    let Some(gpu) = gpu() else { return };
    let n = 65_535 * 64 + 1000;
    let mut r = Rng::new(7);
    let case = single(
        "relu over 4.2M values",
        "Relu",
        r.tensor(&[n]),
        vec![],
        vec![],
    );
    run_case(&gpu, &case);
}

/// The channel-mean reduction (what activations() reads back) against CPU means, for
/// NCHW with many positions, [N, tokens, C] and [N, C] targets.
#[test]
fn channel_means_match() {
    let Some(gpu) = gpu() else { return };
    let mut r = Rng::new(11);
    for shape in [
        vec![3, 4, 17, 19],
        vec![2, 9, 6],
        vec![5, 8],
        vec![1, 3, 1, 1],
    ] {
        let case = single("identity", "Identity", r.tensor(&shape), vec![], vec![]);
        let bytes = case.model.bytes();
        let per: usize = shape[1..].iter().product();
        let images: Vec<Tensor> = (0..shape[0])
            .map(|i| {
                Tensor::new(
                    shape[1..].to_vec(),
                    case.input.data[i * per..(i + 1) * per].to_vec(),
                )
                .unwrap()
            })
            .collect();
        // Channel axis, positions and their strides, as the paradigm defines the mean.
        let (c, s, cs, ss) = match shape.len() {
            2 => (shape[1], 1, 1, 1),
            3 => (shape[2], shape[1], 1, shape[2]),
            _ => (
                shape[1],
                shape[2..].iter().product(),
                shape[2..].iter().product(),
                1,
            ),
        };
        let channels = [c - 1, 0, 1.min(c - 1)];

        let cpu = Engine::load(&bytes, "y", None)
            .unwrap()
            .activations_blocking(&images, &channels)
            .unwrap();
        let g = Engine::load(&bytes, "y", Some(&gpu))
            .unwrap()
            .activations_blocking(&images, &channels)
            .unwrap();
        assert_eq!(cpu.len(), shape[0]);
        assert_eq!(g.len(), shape[0]);
        for (i, (a, b)) in cpu.iter().zip(&g).enumerate() {
            for (k, &ch) in channels.iter().enumerate() {
                let direct = (0..s)
                    .map(|q| case.input.data[i * per + ch * cs + q * ss])
                    .sum::<f32>()
                    / s as f32;
                assert!(
                    (a[k] - direct).abs() <= 1e-5,
                    "cpu mean {} vs {}",
                    a[k],
                    direct
                );
                assert!(
                    (b[k] - direct).abs() <= 1e-5,
                    "gpu mean {} vs {}",
                    b[k],
                    direct
                );
            }
        }
    }
}

/// Convolution in f64, the seven-deep loop: `x` `[n, c, h, w]`, `w` `[m, c/group, kh, kw]`.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &Tensor,
    w: &Tensor,
    b: &[f32],
    stride: [usize; 2],
    dil: [usize; 2],
    pads: [usize; 4],
    group: usize,
) -> Tensor {
    let [n, c, h, wd] = x.shape[..] else {
        panic!("4-D input")
    };
    let [m, cpg, kh, kw] = w.shape[..] else {
        panic!("4-D weight")
    };
    let oh = (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) / stride[0] + 1;
    let ow = (wd + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) / stride[1] + 1;
    let mpg = m / group;
    let mut y = Tensor::new(vec![n, m, oh, ow], vec![0.0; n * m * oh * ow]).unwrap();
    for i in 0..n {
        for (o, &bias) in b.iter().enumerate().take(m) {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = f64::from(bias);
                    for ci in 0..cpg {
                        let ch = o / mpg * cpg + ci;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride[0] + ky * dil[0]) as isize - pads[0] as isize;
                                let ix = (ox * stride[1] + kx * dil[1]) as isize - pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv =
                                    x.data[((i * c + ch) * h + iy as usize) * wd + ix as usize];
                                let wv = w.data[((o * cpg + ci) * kh + ky) * kw + kx];
                                acc += f64::from(xv) * f64::from(wv);
                            }
                        }
                    }
                    y.data[((i * m + o) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    y
}

/// Batched matrix product in f64 with numpy broadcasting of the batch axes (rank ≥ 2).
fn naive_matmul(a: &Tensor, b: &Tensor) -> Tensor {
    let (ra, rb) = (a.shape.len(), b.shape.len());
    let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
    let rank = ra.max(rb);
    let dim = |s: &[usize], d: usize| {
        let pad = rank - s.len();
        if d < pad {
            1
        } else {
            s[d - pad]
        }
    };
    let batch: Vec<usize> = (0..rank - 2)
        .map(|d| dim(&a.shape, d).max(dim(&b.shape, d)))
        .collect();
    let nb: usize = batch.iter().product();
    let mut out = batch.clone();
    out.extend([m, n]);
    let mut data = vec![0f32; nb * m * n];
    for bi in 0..nb {
        let (mut oa, mut ob, mut rest) = (0, 0, bi);
        let (mut sa, mut sb) = (1, 1);
        for d in (0..rank - 2).rev() {
            let j = rest % batch[d];
            rest /= batch[d];
            let (da, db) = (dim(&a.shape, d), dim(&b.shape, d));
            oa += if da == 1 { 0 } else { j * sa };
            ob += if db == 1 { 0 } else { j * sb };
            sa *= da;
            sb *= db;
        }
        for i in 0..m {
            for j in 0..n {
                data[(bi * m + i) * n + j] = (0..k)
                    .map(|p| {
                        f64::from(a.data[(oa * m + i) * k + p])
                            * f64::from(b.data[(ob * k + p) * n + j])
                    })
                    .sum::<f64>() as f32;
            }
        }
    }
    Tensor::new(out, data).unwrap()
}

/// The shapes the fast kernels special-case or tile (1×1 as a plain matrix product,
/// depthwise, strided, dilated, grouped, sizes that are not multiples of a tile, several
/// images, products larger than a 64×64 tile), CPU and GPU each against the f64 loops.
#[test]
fn conv_and_matmul_match_a_naive_reference() {
    let gpu = gpu();
    let mut r = Rng::new(31337);
    // (what, input, output channels, kernel, stride, dilation, pads, group)
    type Spec = (
        &'static str,
        [usize; 4],
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 2],
        [usize; 4],
        usize,
    );
    let specs: [Spec; 12] = [
        ("1x1", [2, 19, 5, 9], 13, [1, 1], [1, 1], [1, 1], [0; 4], 1),
        (
            "1x1 stride 2",
            [1, 6, 9, 8],
            8,
            [1, 1],
            [2, 2],
            [1, 1],
            [0; 4],
            1,
        ),
        (
            "1x1 with end pads",
            [1, 4, 5, 5],
            3,
            [1, 1],
            [1, 1],
            [1, 1],
            [0, 0, 1, 2],
            1,
        ),
        (
            "3x3 odd sizes",
            [3, 5, 11, 13],
            7,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            1,
        ),
        (
            "3x3 stride 2",
            [2, 8, 15, 17],
            12,
            [3, 3],
            [2, 2],
            [1, 1],
            [1, 0, 1, 1],
            1,
        ),
        (
            "3x3 dilation 2",
            [2, 6, 13, 10],
            9,
            [3, 3],
            [1, 1],
            [2, 2],
            [2, 2, 2, 2],
            1,
        ),
        (
            "5x3 dilation (2, 3) stride (1, 2)",
            [1, 3, 14, 19],
            5,
            [5, 3],
            [1, 2],
            [2, 3],
            [1, 2, 3, 1],
            1,
        ),
        (
            "groups 2, 8 outputs each (tiled)",
            [2, 6, 9, 9],
            16,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            2,
        ),
        (
            "groups 3, 2 outputs each",
            [1, 9, 7, 6],
            6,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            3,
        ),
        (
            "depthwise stride 2",
            [3, 10, 11, 11],
            10,
            [3, 3],
            [2, 2],
            [1, 1],
            [1, 1, 1, 1],
            10,
        ),
        (
            "depthwise multiplier 4",
            [1, 3, 9, 12],
            12,
            [5, 5],
            [1, 1],
            [1, 1],
            [2, 2, 2, 2],
            3,
        ),
        (
            "deep 3x3, 70 channels",
            [1, 70, 12, 12],
            33,
            [3, 3],
            [1, 1],
            [1, 1],
            [1, 1, 1, 1],
            1,
        ),
    ];
    let ints = |v: &[usize]| A::Ints(v.iter().map(|&d| d as i64).collect());
    let mut cases = Vec::new();
    for (what, xs, m, k, s, d, p, group) in specs {
        let x = r.tensor(&xs);
        let w = r.tensor(&[m, xs[1] / group, k[0], k[1]]);
        let b = r.tensor(&[m]);
        let want = naive_conv(&x, &w, &b.data, s, d, p, group);
        let attrs = vec![
            ("strides", ints(&s)),
            ("dilations", ints(&d)),
            ("pads", ints(&p)),
            ("group", A::I(group as i64)),
        ];
        cases.push((
            single(what, "Conv", x, vec![("w", w), ("b", b)], attrs),
            want,
        ));
    }
    for (what, a, b) in [
        ("matmul 70x33 by 33x130", vec![70, 33], vec![33, 130]),
        (
            "matmul batched 2x3, 65x17 by 17x66",
            vec![2, 3, 65, 17],
            vec![3, 17, 66],
        ),
        ("matmul one row", vec![1, 200], vec![200, 70]),
    ] {
        let (a, b) = (r.tensor(&a), r.tensor(&b));
        let want = naive_matmul(&a, &b);
        cases.push((single(what, "MatMul", a, vec![("b", b)], vec![]), want));
    }
    for (what, ta, tb) in [
        ("gemm 70x90 by 90x65", 0, 0),
        ("gemm transposed both", 1, 1),
    ] {
        let (m, k, n) = (70, 90, 65);
        let a = r.tensor(&if ta == 1 { [k, m] } else { [m, k] });
        let b = r.tensor(&if tb == 1 { [n, k] } else { [k, n] });
        let c = r.tensor(&[n]);
        let at = |t: &Tensor, i: usize, j: usize, trans: i64, cols: usize, rows: usize| {
            if trans == 1 {
                t.data[j * rows + i]
            } else {
                t.data[i * cols + j]
            }
        };
        let data = (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let dot: f64 = (0..k)
                    .map(|p| f64::from(at(&a, i, p, ta, k, m)) * f64::from(at(&b, p, j, tb, n, k)))
                    .sum();
                (0.5 * dot + 2.0 * f64::from(c.data[j])) as f32
            })
            .collect();
        let want = Tensor::new(vec![m, n], data).unwrap();
        let attrs = vec![
            ("transA", A::I(ta)),
            ("transB", A::I(tb)),
            ("alpha", A::F(0.5)),
            ("beta", A::F(2.0)),
        ];
        cases.push((
            single(what, "Gemm", a, vec![("b", b), ("c", c)], attrs),
            want,
        ));
    }
    for (case, want) in &cases {
        let bytes = case.model.bytes();
        let cpu = Engine::load(&bytes, "y", None).unwrap();
        let got = cpu.target_tensor_blocking(&case.input).unwrap();
        let worst = assert_close(&format!("{} (cpu)", case.name), &got, want, RTOL, ATOL);
        let mut line = format!("ok  {:<40} max |cpu - naive| = {worst:.2e}", case.name);
        if let Some(gpu) = &gpu {
            let eng = Engine::load(&bytes, "y", Some(gpu)).unwrap();
            let got = eng.target_tensor_blocking(&case.input).unwrap();
            let worst = assert_close(&format!("{} (gpu)", case.name), &got, want, RTOL, ATOL);
            line += &format!("  |gpu - naive| = {worst:.2e}");
        }
        eprintln!("{line}");
    }
}

/// Pad's `wrap` (opset 19) on both backends against `numpy.pad(x, mode="wrap")`, written
/// out; with negative pads the axis is cropped first, then wrapped around what is left (as
/// onnxruntime does; ONNX's reference refuses negative pads).
#[test]
fn pad_wrap_repeats_the_data_as_on_a_torus() {
    let g = gpu();
    let x = Tensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
    let x4 = Tensor::new(vec![4], vec![0., 1., 2., 3.]).unwrap();
    for (x, pads, shape, want) in [
        (
            &x,
            vec![1, 2, 1, 1],
            vec![4, 6],
            vec![
                5., 6., 4., 5., 6., 4., 2., 3., 1., 2., 3., 1., 5., 6., 4., 5., 6., 4., 2., 3., 1.,
                2., 3., 1.,
            ],
        ),
        (
            &x,
            vec![0, 4, 0, 0],
            vec![2, 7],
            vec![3., 1., 2., 3., 1., 2., 3., 6., 4., 5., 6., 4., 5., 6.],
        ),
        (&x4, vec![-1, 1], vec![4], vec![1., 2., 3., 1.]),
        (&x4, vec![2, -3], vec![3], vec![0., 0., 0.]),
    ] {
        let mut m = ModelBuilder::new("x", &x.shape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        m.opset(19).ints("pads", &pads).node(
            "Pad",
            "pad",
            &["x", "pads"],
            "y",
            vec![("mode", A::S("wrap"))],
        );
        let want = Tensor::new(shape, want).unwrap();
        let engines = [
            Some(Engine::load(&m.bytes(), "y", None).unwrap()),
            g.as_ref()
                .map(|g| Engine::load(&m.bytes(), "y", Some(g)).unwrap()),
        ];
        for e in engines.iter().flatten() {
            let got = e.target_tensor_blocking(x).unwrap();
            assert_eq!(
                got,
                want,
                "wrap {pads:?} of {:?} ({:?})",
                x.shape,
                e.backend()
            );
        }
    }
}
