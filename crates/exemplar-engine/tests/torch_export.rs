//! The shape arithmetic of `torch.onnx.export` graphs of torchvision models, built node
//! for node as torch writes it (opset 11 and 13), with a symbolic batch axis: flatten by
//! `Shape → Gather → Unsqueeze → Concat → Reshape`, `F.pad` by torch's
//! `ConstantOfShape`/`Concat`/`Slice`/`Transpose` chain, ViT's class token expanded to the
//! batch size (`Expand` with the `Equal`/`Where` rewrite of -1), concatenated and gathered
//! back, and `Where` with a condition folded from the input's shape. Each is run for two
//! batch sizes on our CPU and GPU paths and compared with tract-onnx, with issue 4's
//! tolerance.

mod common;

use common::reference::{self, compare};
use common::{branch, gpu, ModelBuilder, Rng, A};
use exemplar_engine::onnx::TensorProto;
use exemplar_engine::{Engine, EngineError, GpuContext, Tensor};

/// Compares every target for every input on the CPU and (if any) the GPU with tract.
fn check(label: &str, m: &ModelBuilder, targets: &[(&str, bool)], inputs: &[Tensor]) {
    let g: Option<GpuContext> = gpu();
    let bytes = m.bytes();
    for &(target, tokens) in targets {
        let cpu = Engine::load(&bytes, target, None).unwrap_or_else(|e| panic!("{target}: {e}"));
        let on_gpu = g
            .as_ref()
            .map(|g| Engine::load(&bytes, target, Some(g)).unwrap());
        for input in inputs {
            let want = reference::tract_tensor(&m.bytes_with_outputs(&[target]), target, input);
            let got = cpu.target_tensor_blocking(input).unwrap();
            let wc = compare(&format!("{label} {target} (cpu)"), &got, &want, tokens);
            let wg = on_gpu.as_ref().map(|e| {
                let got = e.target_tensor_blocking(input).unwrap();
                compare(&format!("{label} {target} (gpu)"), &got, &want, tokens)
            });
            eprintln!(
                "ok  {label:<16} {target:<8} {:?}  max|cpu - tract| {wc:.2e}  max|gpu - tract| {}",
                want.shape,
                wg.map_or("(no GPU)".to_string(), |w| format!("{w:.2e}"))
            );
        }
    }
}

/// `torch.flatten(x, 1)` / `x.view(x.size(0), -1)` as opset 11 writes it, before a Linear.
#[test]
fn flatten_by_shape_arithmetic_with_a_symbolic_batch() {
    let mut r = Rng::new(31);
    let mut m = ModelBuilder::new("x", &[None, Some(3), Some(9), Some(9)]);
    m.opset(11)
        .weight("conv.w", &r.tensor(&[4, 3, 3, 3]))
        .weight("conv.b", &r.tensor(&[4]))
        .weight("fc.w", &r.tensor(&[10, 64]))
        .weight("fc.b", &r.tensor(&[10]));
    m.node(
        "Conv",
        "conv",
        &["x", "conv.w", "conv.b"],
        "c",
        vec![("pads", A::Ints(vec![1, 1, 1, 1]))],
    )
    .node("Relu", "relu", &["c"], "r", vec![])
    .node(
        "MaxPool",
        "pool",
        &["r"],
        "p",
        vec![
            ("kernel_shape", A::Ints(vec![2, 2])),
            ("strides", A::Ints(vec![2, 2])),
        ],
    )
    .node("Shape", "shape", &["p"], "s", vec![]);
    m.constant("zero", A::int_scalar(0));
    m.node(
        "Gather",
        "batch",
        &["s", "zero"],
        "n",
        vec![("axis", A::I(0))],
    )
    .node(
        "Unsqueeze",
        "unsq",
        &["n"],
        "n1",
        vec![("axes", A::Ints(vec![0]))],
    );
    m.constant("minus1", A::int_vec(&[-1]));
    m.node(
        "Concat",
        "cat",
        &["n1", "minus1"],
        "shp",
        vec![("axis", A::I(0))],
    )
    .node("Reshape", "flatten", &["p", "shp"], "flat", vec![])
    .node(
        "Gemm",
        "fc",
        &["flat", "fc.w", "fc.b"],
        "logits",
        vec![("transB", A::I(1))],
    );
    let e = Engine::load(&m.bytes(), "logits", None).unwrap();
    assert_eq!(e.op_types(), ["Conv", "Relu", "MaxPool", "Reshape", "Gemm"]);
    let inputs = [r.tensor(&[2, 3, 9, 9]), r.tensor(&[3, 3, 9, 9])];
    // activations() batches images itself; every batch size resolves its own shapes.
    let want = e.target_tensor_blocking(&inputs[1]).unwrap();
    let images: Vec<Tensor> = inputs[1]
        .data
        .chunks(3 * 9 * 9)
        .map(|c| Tensor::new(vec![3, 9, 9], c.to_vec()).unwrap())
        .collect();
    let g = gpu();
    for engine in [
        Some(e),
        g.map(|g| Engine::load(&m.bytes(), "logits", Some(&g)).unwrap()),
    ]
    .into_iter()
    .flatten()
    {
        let got = engine.activations_blocking(&images, &[0, 7]).unwrap();
        for (i, row) in got.iter().enumerate() {
            for (k, &ch) in [0, 7].iter().enumerate() {
                let w = want.data[i * 10 + ch];
                assert!(
                    (row[k] - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{row:?} vs {w}"
                );
            }
        }
    }
    check(
        "flatten",
        &m,
        &[("flat", false), ("logits", false)],
        &inputs,
    );
}

/// torch's `constant_pad_nd` and `reflection_pad2d` (opset 11): the pads list [1, 2, 0, 1]
/// (last axis first) turned into ONNX's order by ConstantOfShape, Concat, Reshape, a
/// reversing Slice (to -INT64_MAX) and Transpose.
#[test]
fn pad_from_torchs_pads_arithmetic() {
    let mut r = Rng::new(32);
    let mut m = ModelBuilder::new("x", &[None, Some(3), Some(7), Some(6)]);
    m.opset(11)
        .weight("conv.w", &r.tensor(&[5, 3, 3, 3]))
        .weight("conv.b", &r.tensor(&[5]));
    m.constant("pl", A::int_vec(&[1, 2, 0, 1]));
    m.constant("rank", A::int_scalar(4));
    m.constant("two", A::int_scalar(2));
    m.constant("len", A::int_scalar(4));
    m.constant("value", A::float_scalar(0.5));
    m.constant("pairs", A::int_vec(&[-1, 2]));
    m.constant("flat", A::int_vec(&[-1]));
    m.constant("starts", A::int_vec(&[-1]));
    m.constant("ends", A::int_vec(&[-i64::MAX]));
    m.constant("axes", A::int_vec(&[0]));
    m.constant("steps", A::int_vec(&[-1]));
    m.node("Mul", "mul", &["rank", "two"], "twice", vec![])
        .node("Sub", "sub", &["twice", "len"], "ext", vec![])
        .node(
            "Unsqueeze",
            "unsq",
            &["ext"],
            "ext1",
            vec![("axes", A::Ints(vec![0]))],
        )
        .node(
            "ConstantOfShape",
            "zeros",
            &["ext1"],
            "zeros",
            vec![("value", A::int_vec(&[0]))],
        )
        .node("Cast", "cast_pl", &["pl"], "pl64", vec![("to", A::I(7))])
        .node(
            "Concat",
            "cat",
            &["pl64", "zeros"],
            "all",
            vec![("axis", A::I(0))],
        )
        .node("Reshape", "pairs_of", &["all", "pairs"], "p2", vec![])
        .node(
            "Slice",
            "reverse",
            &["p2", "starts", "ends", "axes", "steps"],
            "rev",
            vec![],
        )
        .node(
            "Transpose",
            "tr",
            &["rev"],
            "tp",
            vec![("perm", A::Ints(vec![1, 0]))],
        )
        .node("Reshape", "onnx_order", &["tp", "flat"], "pads0", vec![])
        .node(
            "Cast",
            "cast_pads",
            &["pads0"],
            "pads",
            vec![("to", A::I(7))],
        )
        .node(
            "Pad",
            "pad",
            &["x", "pads", "value"],
            "padded",
            vec![("mode", A::S("constant"))],
        )
        .node("Conv", "conv", &["padded", "conv.w", "conv.b"], "c", vec![])
        .node("Relu", "relu", &["c"], "rl", vec![])
        .node(
            "Pad",
            "reflect",
            &["rl", "pads"],
            "refl",
            vec![("mode", A::S("reflect"))],
        )
        .node(
            "Pad",
            "edge",
            &["refl", "pads"],
            "edged",
            vec![("mode", A::S("edge"))],
        );
    let e = Engine::load(&m.bytes(), "edged", None).unwrap();
    assert_eq!(e.op_types(), ["Pad", "Conv", "Relu", "Pad", "Pad"]);
    let inputs = [r.tensor(&[2, 3, 7, 6]), r.tensor(&[1, 3, 7, 6])];
    check(
        "pad",
        &m,
        &[("padded", false), ("refl", false), ("edged", false)],
        &inputs,
    );
}

/// torchvision's ViT (opset 13): patches reshaped with sizes from `Shape`, the class
/// token `expand(n, -1, -1)` (torch writes -1 as `Where(Equal(size, -1), 1, size)`),
/// concatenated before the patches, position embedding added, and the class token
/// gathered back on axis 1.
#[test]
fn vit_class_token_expanded_to_the_batch() {
    let mut r = Rng::new(33);
    let d = 12;
    let mut m = ModelBuilder::new("x", &[None, Some(3), Some(16), Some(16)]);
    m.weight("patch.w", &r.tensor(&[d, 3, 8, 8]))
        .weight("patch.b", &r.tensor(&[d]))
        .weight("class_token", &r.tensor(&[1, 1, d]))
        .weight("pos", &r.tensor(&[1, 5, d]))
        .weight("mlp.w", &r.tensor(&[d, d]));
    for (name, v) in [
        ("i0", A::int_scalar(0)),
        ("i2", A::int_scalar(2)),
        ("i3", A::int_scalar(3)),
        ("p8", A::int_scalar(8)),
        ("ax0", A::int_vec(&[0])),
        ("hidden", A::int_vec(&[d as i64])),
        ("m1", A::int_vec(&[-1])),
        ("neg", A::int_scalar(-1)),
    ] {
        m.constant(name, v);
    }
    m.node(
        "Conv",
        "conv_proj",
        &["x", "patch.w", "patch.b"],
        "e",
        vec![("strides", A::Ints(vec![8, 8]))],
    )
    // n, h, w = x.shape; n_h = h // p; n_w = w // p
    .node("Shape", "shape_x", &["x"], "sx", vec![])
    .node(
        "Gather",
        "get_n",
        &["sx", "i0"],
        "n",
        vec![("axis", A::I(0))],
    )
    .node(
        "Gather",
        "get_h",
        &["sx", "i2"],
        "h",
        vec![("axis", A::I(0))],
    )
    .node(
        "Gather",
        "get_w",
        &["sx", "i3"],
        "w",
        vec![("axis", A::I(0))],
    )
    .node("Div", "n_h", &["h", "p8"], "nh", vec![])
    .node("Div", "n_w", &["w", "p8"], "nw", vec![])
    .node("Mul", "n_hw", &["nh", "nw"], "nhw", vec![])
    .node("Unsqueeze", "unsq_n", &["n", "ax0"], "n1", vec![])
    .node("Unsqueeze", "unsq_hw", &["nhw", "ax0"], "nhw1", vec![])
    .node(
        "Concat",
        "cat_shape",
        &["n1", "hidden", "nhw1"],
        "shp",
        vec![("axis", A::I(0))],
    )
    .node("Reshape", "reshape", &["e", "shp"], "e2", vec![])
    .node(
        "Transpose",
        "permute",
        &["e2"],
        "tok",
        vec![("perm", A::Ints(vec![0, 2, 1]))],
    )
    // class_token.expand(n, -1, -1)
    .node(
        "Concat",
        "cat_size",
        &["n1", "m1", "m1"],
        "size",
        vec![("axis", A::I(0))],
    )
    .node("Shape", "shape_size", &["size"], "ssize", vec![])
    .node(
        "ConstantOfShape",
        "ones",
        &["ssize"],
        "ones",
        vec![("value", A::int_vec(&[1]))],
    )
    .node("Mul", "neg_ones", &["ones", "neg"], "negs", vec![])
    .node("Equal", "is_neg", &["size", "negs"], "isneg", vec![])
    .node(
        "Where",
        "fix_size",
        &["isneg", "ones", "size"],
        "size1",
        vec![],
    )
    .node("Identity", "ct", &["class_token"], "ct", vec![])
    .node("Expand", "expand", &["ct", "size1"], "cls", vec![])
    .node(
        "Concat",
        "cat_cls",
        &["cls", "tok"],
        "seq",
        vec![("axis", A::I(1))],
    )
    .node("Add", "add_pos", &["seq", "pos"], "seq2", vec![])
    .node("MatMul", "mlp", &["seq2", "mlp.w"], "hid", vec![])
    .node(
        "Gather",
        "class_out",
        &["hid", "i0"],
        "out",
        vec![("axis", A::I(1))],
    );
    let e = Engine::load(&m.bytes(), "out", None).unwrap();
    assert_eq!(
        e.op_types(),
        [
            "Conv",
            "Reshape",
            "Transpose",
            "Concat",
            "Add",
            "MatMul",
            "Gather"
        ]
    );
    let inputs = [r.tensor(&[2, 3, 16, 16]), r.tensor(&[3, 3, 16, 16])];
    check(
        "vit class token",
        &m,
        &[("seq2", true), ("out", false)],
        &inputs,
    );
}

/// `Where` on a computed tensor with a condition folded from its shape (the last axis'
/// positions below 5, via Range and Less) and a fill from `ConstantOfShape(Shape(x))`,
/// which is a constant for each batch size.
#[test]
fn where_with_a_condition_folded_from_the_shape() {
    let mut r = Rng::new(34);
    let mut m = ModelBuilder::new("x", &[None, Some(3), Some(8), Some(8)]);
    m.weight("conv.w", &r.tensor(&[4, 3, 1, 1]))
        .weight("conv.b", &r.tensor(&[4]));
    for (name, v) in [
        ("i3", A::int_scalar(3)),
        ("start", A::int_scalar(0)),
        ("step", A::int_scalar(1)),
        ("five", A::int_scalar(5)),
    ] {
        m.constant(name, v);
    }
    m.node("Conv", "conv", &["x", "conv.w", "conv.b"], "a", vec![])
        .node("Shape", "shape", &["a"], "s", vec![])
        .node(
            "Gather",
            "width",
            &["s", "i3"],
            "w",
            vec![("axis", A::I(0))],
        )
        .node("Range", "range", &["start", "w", "step"], "cols", vec![])
        .node("Less", "less", &["cols", "five"], "lt", vec![])
        .node("Cast", "as_bool", &["lt"], "mask", vec![("to", A::I(9))])
        .node(
            "ConstantOfShape",
            "fill",
            &["s"],
            "fill",
            vec![("value", A::T(TensorProto::from_f32("", &[1], &[0.25])))],
        )
        .node("Where", "where", &["mask", "a", "fill"], "masked", vec![])
        .node("Relu", "relu", &["masked"], "y", vec![]);
    let e = Engine::load(&m.bytes(), "y", None).unwrap();
    assert_eq!(e.op_types(), ["Conv", "Where", "Relu"]);
    let inputs = [r.tensor(&[2, 3, 8, 8]), r.tensor(&[3, 3, 8, 8])];
    check("where", &m, &[("masked", false), ("y", false)], &inputs);
}

/// What the folder cannot do stays a load-time error naming the node.
#[test]
fn unfoldable_shape_arithmetic_is_a_load_error_naming_the_node() {
    let mut m = ModelBuilder::new("x", &[None, Some(2), Some(3)]);
    m.node("Relu", "relu", &["x"], "r", vec![])
        .node("Shape", "shape", &["r"], "s", vec![])
        .node(
            "BitShift",
            "shift",
            &["s", "s"],
            "bad",
            vec![("direction", A::S("LEFT"))],
        )
        .node("Reshape", "reshape", &["r", "bad"], "y", vec![]);
    let err = Engine::load(&m.bytes(), "y", None)
        .err()
        .expect("BitShift must be refused");
    assert!(matches!(err, EngineError::UnsupportedOp { .. }), "{err}");
    assert!(err.to_string().contains("'shift'"), "{err}");
    // A tensor computed from the input's shape alone is no activation.
    let err = Engine::load(&m.bytes(), "s", None).err().unwrap();
    assert!(err.to_string().contains("input's shape only"), "{err}");
}

/// `Mod` in shape arithmetic folds (torch writes it in a ViT's attention, from the
/// embedding width and the head count), with both of ONNX's sign conventions: the sign of
/// the divisor (`fmod` 0, integers) and of the dividend (`fmod` 1, C's fmod).
#[test]
fn mod_in_shape_arithmetic_folds() {
    let mut r = Rng::new(11);
    let mut m = ModelBuilder::new("x", &[None, Some(6), Some(4)]);
    m.ints("k", &[5, 4, 3])
        .ints("minus7", &[-7])
        .ints("four", &[4])
        .ints("two", &[2])
        .ints("one", &[1])
        .node("Shape", "shape", &["x"], "s", vec![]) // [N, 6, 4]
        .node("Mod", "mod", &["s", "k"], "rem", vec![]) // [N % 5, 2, 1]
        .node("Slice", "second", &["rem", "one", "two"], "r1", vec![]) // [2]
        .node("Mod", "divisor_sign", &["minus7", "four"], "a", vec![]) // [1]
        .node(
            "Mod",
            "dividend_sign",
            &["minus7", "four"],
            "b",
            vec![("fmod", A::I(1))],
        ) // [-3]
        .node("Sub", "minus_one", &["a", "two"], "d0", vec![]) // [-1]
        .node("Neg", "neg", &["b"], "nb", vec![]) // [3]
        .node("Mul", "twelve", &["nb", "four"], "d2", vec![]) // [12]
        .node(
            "Concat",
            "shape_out",
            &["d0", "r1", "d2"],
            "shape2",
            vec![("axis", A::I(0))],
        )
        .node("Reshape", "reshape", &["x", "shape2"], "reshaped", vec![])
        .node("Relu", "relu", &["reshaped"], "y", vec![]);
    let e = Engine::load(&m.bytes(), "y", None).unwrap();
    assert_eq!(e.op_types(), ["Reshape", "Relu"]);
    for n in [1, 3] {
        let x = r.tensor(&[n, 6, 4]);
        let got = e.target_tensor_blocking(&x).unwrap();
        assert_eq!(got.shape, [n, 2, 12]);
        let want: Vec<f32> = x.data.iter().map(|v| v.max(0.0)).collect();
        assert_eq!(got.data, want);
    }
    // A modulo by zero of integers is an error naming the node, not a panic.
    let mut z = ModelBuilder::new("x", &[None, Some(6)]);
    z.ints("zero", &[0])
        .node("Shape", "shape", &["x"], "s", vec![])
        .node("Mod", "by_zero", &["s", "zero"], "bad", vec![])
        .node("Reshape", "reshape", &["x", "bad"], "y", vec![]);
    let err = Engine::load(&z.bytes(), "y", None).err().expect("x mod 0");
    assert!(err.to_string().contains("modulo by zero"), "{err}");
}

/// torch's `squeeze(1)` at opset 13 and later with a dynamic batch: `If(shape[1] == 1)`
/// with a Squeeze branch and an Identity branch. The condition is folded from the input's
/// shape, so the branch is chosen for each input shape.
#[test]
fn if_with_a_condition_from_the_shape_takes_its_branch() {
    let mut r = Rng::new(12);
    let squeeze = branch(
        vec![
            ("Constant", &[], "axes", vec![("value", A::int_vec(&[1]))]),
            ("Squeeze", &["r", "axes"], "squeezed", vec![]),
        ],
        "squeezed",
    );
    let keep = branch(vec![("Identity", &["r"], "kept", vec![])], "kept");
    let mut m = ModelBuilder::new("x", &[None, Some(1), Some(4), Some(5)]);
    m.ints_shaped("one_index", &[], &[1])
        .ints_shaped("one", &[], &[1])
        .node("Relu", "relu", &["x"], "r", vec![])
        .node("Shape", "shape", &["r"], "s", vec![])
        .node(
            "Gather",
            "dim1",
            &["s", "one_index"],
            "d1",
            vec![("axis", A::I(0))],
        )
        .node("Equal", "is_one", &["d1", "one"], "cond", vec![])
        .node(
            "If",
            "if",
            &["cond"],
            "out",
            vec![("then_branch", squeeze), ("else_branch", keep)],
        )
        .node("Sigmoid", "sigmoid", &["out"], "y", vec![]);
    let cpu = Engine::load(&m.bytes(), "y", None).unwrap();
    let g = gpu();
    let on_gpu = g
        .as_ref()
        .map(|g| Engine::load(&m.bytes(), "y", Some(g)).unwrap());
    for n in [1, 3] {
        let x = r.tensor(&[n, 1, 4, 5]);
        let want: Vec<f32> = x
            .data
            .iter()
            .map(|v| 1.0 / (1.0 + (-v.max(0.0)).exp()))
            .collect();
        for e in std::iter::once(&cpu).chain(on_gpu.as_ref()) {
            let got = e.target_tensor_blocking(&x).unwrap();
            assert_eq!(got.shape, [n, 4, 5]);
            for (a, b) in got.data.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} against {b}");
            }
        }
    }
}

/// What the engine cannot do with an If stays a load-time error naming it: a branch of
/// several nodes, and a condition computed from the image's data.
#[test]
fn if_it_cannot_take_is_a_load_error_naming_the_node() {
    let two = branch(
        vec![
            ("Relu", &["r"], "a", vec![]),
            ("Sigmoid", &["a"], "b", vec![]),
        ],
        "b",
    );
    let keep = || branch(vec![("Identity", &["r"], "kept", vec![])], "kept");
    let mut m = ModelBuilder::new("x", &[Some(1), Some(2), Some(3)]);
    m.initializer(TensorProto::from_i64("yes", &[], &[1]))
        .node("Relu", "relu", &["x"], "r", vec![])
        .node(
            "If",
            "if_two",
            &["yes"],
            "y",
            vec![("then_branch", two), ("else_branch", keep())],
        );
    let err = Engine::load(&m.bytes(), "y", None)
        .err()
        .expect("two nodes");
    assert!(matches!(err, EngineError::UnsupportedOp { .. }), "{err}");
    assert!(
        err.to_string().contains("'if_two'") && err.to_string().contains("2 nodes"),
        "{err}"
    );

    let mut m = ModelBuilder::new("x", &[Some(1), Some(2), Some(3)]);
    m.node("Relu", "relu", &["x"], "r", vec![])
        .node(
            "ReduceMean",
            "mean",
            &["r"],
            "mean",
            vec![("keepdims", A::I(0))],
        )
        .node(
            "If",
            "if_data",
            &["mean"],
            "y",
            vec![("then_branch", keep()), ("else_branch", keep())],
        );
    let err = Engine::load(&m.bytes(), "y", None)
        .err()
        .expect("a data condition");
    assert!(
        err.to_string().contains("'if_data'") && err.to_string().contains("must be a constant"),
        "{err}"
    );
}

/// A 3-D pool runs only as torch's `local_response_norm` writes it (k×1×1 over
/// `[N, 1, C, H, W]`, padded on the channel axis); any other 3-D window is refused by name.
#[test]
fn three_d_pools_only_as_k_by_1_by_1() {
    let mut r = Rng::new(13);
    let mut m = ModelBuilder::new("x", &[None, Some(1), Some(6), Some(3), Some(4)]);
    m.node(
        "AveragePool",
        "lrn_sum",
        &["x"],
        "y",
        vec![
            ("kernel_shape", A::Ints(vec![3, 1, 1])),
            ("pads", A::Ints(vec![1, 0, 0, 1, 0, 0])),
            ("count_include_pad", A::I(1)),
        ],
    );
    let cpu = Engine::load(&m.bytes(), "y", None).unwrap();
    let g = gpu();
    let on_gpu = g
        .as_ref()
        .map(|g| Engine::load(&m.bytes(), "y", Some(g)).unwrap());
    let x = r.tensor(&[2, 1, 6, 3, 4]);
    let at = |n: usize, c: isize, p: usize| -> f32 {
        if (0..6).contains(&c) {
            x.data[(n * 6 + c as usize) * 12 + p]
        } else {
            0.0
        }
    };
    for e in std::iter::once(&cpu).chain(on_gpu.as_ref()) {
        let got = e.target_tensor_blocking(&x).unwrap();
        assert_eq!(got.shape, [2, 1, 6, 3, 4]);
        for n in 0..2 {
            for c in 0..6isize {
                for p in 0..12 {
                    let want = (at(n, c - 1, p) + at(n, c, p) + at(n, c + 1, p)) / 3.0;
                    let v = got.data[(n * 6 + c as usize) * 12 + p];
                    assert!((v - want).abs() < 1e-5, "{v} against {want}");
                }
            }
        }
    }
    let mut m = ModelBuilder::new("x", &[Some(1), Some(1), Some(6), Some(3), Some(4)]);
    m.node(
        "MaxPool",
        "cube",
        &["x"],
        "y",
        vec![("kernel_shape", A::Ints(vec![3, 3, 1]))],
    );
    let err = Engine::load(&m.bytes(), "y", None)
        .err()
        .expect("a 3x3x1 window");
    assert!(
        err.to_string().contains("'cube'") && err.to_string().contains("k×1×1"),
        "{err}"
    );
}
