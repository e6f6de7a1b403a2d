//! Hostile models: each asks for an absurd allocation, an overflowing shape or offset, or
//! reads a tensor nobody provides. Each must be refused with an error that names the
//! tensor or node and the problem, at load or at the first run, never a panic, an abort
//! or an attempt to allocate what it asks. On the CPU always; on the GPU too where this
//! machine has one (as `kernels.rs` decides).

mod common;

use common::{ModelBuilder, Rng, A};
use exemplar_engine::onnx::{TensorProto, FLOAT, INT64};
use exemplar_engine::{Engine, EngineError, GpuContext, LoadOptions, Tensor};

/// The input all models here take: one 3×8×8 image, symbolic batch.
fn builder() -> ModelBuilder {
    ModelBuilder::new("x", &[None, Some(3), Some(8), Some(8)])
}

fn image(seed: u64) -> Tensor {
    Rng::new(seed).tensor(&[3, 8, 8])
}

/// Where a hostile model was refused.
#[derive(Debug, PartialEq)]
enum Stage {
    Load,
    Run,
}

/// Loads `bytes` up to `target` (CPU, or the GPU when given) and, if that works, runs
/// two images; returns the stage that refused and the error. Panics (fails the test)
/// if both succeed.
fn refused(
    bytes: &[u8],
    target: &str,
    gpu: Option<&GpuContext>,
    options: &LoadOptions,
) -> (Stage, EngineError) {
    let engine = match Engine::load_with(bytes, target, gpu, options) {
        Ok(e) => e,
        Err(e) => return (Stage::Load, e),
    };
    match engine.activations_blocking(&[image(1), image(2)], &[0]) {
        Ok(a) => panic!("'{target}' was accepted and computed {a:?}"),
        Err(e) => (Stage::Run, e),
    }
}

/// Asserts the refusal's stage and that its message has every one of `words`.
fn assert_refused(
    what: &str,
    bytes: &[u8],
    target: &str,
    stage: Stage,
    words: &[&str],
    options: &LoadOptions,
) {
    let mut backends: Vec<(&str, Option<GpuContext>)> = vec![("cpu", None)];
    if let Some(g) = common::gpu() {
        backends.push(("gpu", Some(g)));
    }
    for (backend, gpu) in &backends {
        let (got, e) = refused(bytes, target, gpu.as_ref(), options);
        let msg = e.to_string();
        eprintln!("{what} ({backend}): refused at {got:?}: {msg}");
        assert_eq!(got, stage, "{what} ({backend}): {msg}");
        for w in words {
            assert!(
                msg.contains(w),
                "{what} ({backend}): '{w}' missing in: {msg}"
            );
        }
    }
}

fn defaults() -> LoadOptions {
    LoadOptions::default()
}

fn raw_f32(name: &str, dims: &[i64], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: FLOAT,
        name: name.into(),
        raw_data: raw,
        ..Default::default()
    }
}

/// x + w, where `w` is the given initializer.
fn add_weight(w: TensorProto) -> Vec<u8> {
    let mut b = builder();
    b.initializer(w)
        .node("Add", "add", &["x", "w"], "y", vec![]);
    b.bytes()
}

#[test]
fn initializers_with_lying_dims_are_refused_at_load() {
    // 2^40 × 2^40 elements: the product overflows 64 bits.
    assert_refused(
        "dims whose product overflows",
        &add_weight(raw_f32("w", &[1 << 40, 1 << 40], vec![0; 4])),
        "y",
        Stage::Load,
        &["tensor 'w'", "overflows"],
        &defaults(),
    );
    // 2^40 elements of zero bytes' data: over the per-tensor cap, before any reading.
    assert_refused(
        "a terabyte-sized weight",
        &add_weight(raw_f32("w", &[1 << 20, 1 << 20], vec![])),
        "y",
        Stage::Load,
        &["tensor 'w'", "max_tensor_elements"],
        &defaults(),
    );
    // Size 0 on one axis does not excuse the others (strides would overflow).
    assert_refused(
        "an empty weight with absurd axes",
        &add_weight(raw_f32("w", &[0, 1 << 40, 1 << 40], vec![])),
        "y",
        Stage::Load,
        &["tensor 'w'"],
        &defaults(),
    );
    assert_refused(
        "a negative dimension",
        &add_weight(raw_f32("w", &[-3, 8], vec![0; 4])),
        "y",
        Stage::Load,
        &["tensor 'w'", "negative dimension -3"],
        &defaults(),
    );
    // raw_data must hold exactly what the dims say.
    assert_refused(
        "raw_data shorter than the dims",
        &add_weight(raw_f32("w", &[3, 8, 8], vec![0; 4 * 191])),
        "y",
        Stage::Load,
        &["tensor 'w'", "764 bytes of raw_data", "768"],
        &defaults(),
    );
    assert_refused(
        "raw_data longer than the dims",
        &add_weight(raw_f32("w", &[1], vec![0; 6])),
        "y",
        Stage::Load,
        &["tensor 'w'", "6 bytes of raw_data"],
        &defaults(),
    );
}

#[test]
fn hostile_input_declarations_are_refused_at_load() {
    let mut b = ModelBuilder::new("x", &[Some(1), Some(3), Some(1 << 31), Some(1 << 31)]);
    b.node("Relu", "relu", &["x"], "y", vec![]);
    assert_refused(
        "a huge declared input",
        &b.bytes(),
        "y",
        Stage::Load,
        &["input 'x'"],
        &defaults(),
    );
    let mut m = builder().node("Relu", "relu", &["x"], "y", vec![]).model();
    let dims = &mut m.graph.as_mut().unwrap().input[0]
        .r#type
        .as_mut()
        .unwrap()
        .tensor_type
        .as_mut()
        .unwrap()
        .shape
        .as_mut()
        .unwrap()
        .dim;
    dims[2].dim_value = -8;
    use prost::Message;
    assert_refused(
        "a negative declared input dimension",
        &m.encode_to_vec(),
        "y",
        Stage::Load,
        &["input 'x'", "negative dimension -8"],
        &defaults(),
    );
}

#[test]
fn a_missing_initializer_is_named() {
    let mut b = builder();
    b.node("Conv", "conv", &["x", "weights_nobody_wrote"], "y", vec![]);
    assert_refused(
        "a missing initializer",
        &b.bytes(),
        "y",
        Stage::Load,
        &[
            "'weights_nobody_wrote'",
            "no node, input or initializer provides it",
        ],
        &defaults(),
    );
}

#[test]
fn folded_constants_are_held_to_the_cap_before_allocating() {
    // ConstantOfShape([2^40]) then added to the input.
    let mut b = builder();
    b.ints("big", &[1 << 40])
        .node("ConstantOfShape", "fill", &["big"], "c", vec![])
        .node("Add", "add", &["x", "c"], "y", vec![]);
    assert_refused(
        "ConstantOfShape of 2^40",
        &b.bytes(),
        "y",
        Stage::Load,
        &[
            "tensor 'c'",
            "node 'fill'",
            "ConstantOfShape",
            "max_tensor_elements",
        ],
        &defaults(),
    );
    // Range(0, 1e15, 1).
    let mut b = builder();
    b.ints_shaped("start", &[], &[0])
        .ints_shaped("limit", &[], &[1_000_000_000_000_000])
        .ints_shaped("delta", &[], &[1])
        .node("Range", "range", &["start", "limit", "delta"], "r", vec![])
        .node("Cast", "cast", &["r"], "rf", vec![("to", A::I(1))])
        .node("Add", "add", &["x", "rf"], "y", vec![]);
    assert_refused(
        "Range of 10^15 values",
        &b.bytes(),
        "y",
        Stage::Load,
        &["tensor 'r'", "node 'range'", "Range", "max_tensor_elements"],
        &defaults(),
    );
    // Range with a delta so small the count is infinite in f64 terms of the cap.
    let mut b = builder();
    b.initializer(TensorProto::from_f32("start", &[], &[0.0]))
        .initializer(TensorProto::from_f32("limit", &[], &[1e30]))
        .initializer(TensorProto::from_f32("delta", &[], &[1e-30]))
        .node("Range", "range", &["start", "limit", "delta"], "r", vec![])
        .node("Add", "add", &["x", "r"], "y", vec![]);
    assert_refused(
        "Range of 10^60 values",
        &b.bytes(),
        "y",
        Stage::Load,
        &["node 'range'", "max_tensor_elements"],
        &defaults(),
    );
    // Expand of a constant to 2^20 × 2^20.
    let mut b = builder();
    b.weight("one", &Tensor::new(vec![1], vec![1.0]).unwrap())
        .ints("to", &[1 << 20, 1 << 20])
        .node("Expand", "expand", &["one", "to"], "e", vec![])
        .node("Add", "add", &["x", "e"], "y", vec![]);
    assert_refused(
        "Expand of a constant to 2^40",
        &b.bytes(),
        "y",
        Stage::Load,
        &[
            "tensor 'e'",
            "node 'expand'",
            "Expand",
            "max_tensor_elements",
        ],
        &defaults(),
    );
    // Pad of a constant by 2^40 (and by i64::MAX, whose sum overflows).
    for (pad, word) in [(1i64 << 40, "max_tensor_elements"), (i64::MAX, "overflows")] {
        let mut b = builder();
        b.weight("one", &Tensor::new(vec![1], vec![1.0]).unwrap())
            .ints("pads", &[0, pad])
            .node("Pad", "pad", &["one", "pads"], "p", vec![])
            .node("Add", "add", &["x", "p"], "y", vec![]);
        assert_refused(
            &format!("Pad of a constant by {pad}"),
            &b.bytes(),
            "y",
            Stage::Load,
            &["node 'pad'", word],
            &defaults(),
        );
    }
}

#[test]
fn hostile_shapes_of_computed_tensors_are_refused_at_run() {
    // Reshape whose dimensions' product overflows.
    let mut b = builder();
    b.ints("shape", &[1 << 33, 1 << 33, -1]).node(
        "Reshape",
        "reshape",
        &["x", "shape"],
        "y",
        vec![],
    );
    assert_refused(
        "Reshape to 2^66 × ?",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'reshape'", "Reshape", "overflows"],
        &defaults(),
    );
    // Expand of the input to 2^24 × 2^24 × 3 × 8 × 8.
    let mut b = builder();
    b.ints("to", &[1 << 24, 1 << 24, 3, 8, 8])
        .node("Expand", "expand", &["x", "to"], "y", vec![]);
    assert_refused(
        "Expand of the input to 2^48 images",
        &b.bytes(),
        "y",
        Stage::Run,
        &[
            "tensor 'y'",
            "node 'expand'",
            "Expand",
            "max_tensor_elements",
        ],
        &defaults(),
    );
    // Pad of the input: by 2^30 rows (over the cap), by i64::MAX (overflows).
    for (pad, word) in [(1i64 << 30, "max_tensor_elements"), (i64::MAX, "overflows")] {
        let mut b = builder();
        b.ints("pads", &[0, 0, 0, 0, 0, 0, pad, 0])
            .node("Pad", "pad", &["x", "pads"], "y", vec![]);
        assert_refused(
            &format!("Pad of the input by {pad}"),
            &b.bytes(),
            "y",
            Stage::Run,
            &["node 'pad'", word],
            &defaults(),
        );
    }
    // Conv with dilations of 2^62 and a 5×5 kernel: (k - 1) · d + 1 overflows.
    let mut b = builder();
    b.weight("w", &Rng::new(3).tensor(&[2, 3, 5, 5])).node(
        "Conv",
        "conv",
        &["x", "w"],
        "y",
        vec![("dilations", A::Ints(vec![1 << 62, 1 << 62]))],
    );
    assert_refused(
        "Conv dilated by 2^62",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'conv'", "Conv", "dilations", "overflows"],
        &defaults(),
    );
    // MaxPool with pads of i64::MAX (the padded size overflows), and SAME padding with a
    // dilation of 2^62.
    let mut b = builder();
    b.node(
        "MaxPool",
        "pool",
        &["x"],
        "y",
        vec![
            ("kernel_shape", A::Ints(vec![2, 2])),
            ("pads", A::Ints(vec![i64::MAX; 4])),
        ],
    );
    assert_refused(
        "MaxPool padded by i64::MAX",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'pool'", "overflows"],
        &defaults(),
    );
    let mut b = builder();
    b.node(
        "MaxPool",
        "pool",
        &["x"],
        "y",
        vec![
            ("kernel_shape", A::Ints(vec![3, 3])),
            ("strides", A::Ints(vec![1 << 62, 1 << 62])),
            ("dilations", A::Ints(vec![1 << 62, 1 << 62])),
            ("auto_pad", A::S("SAME_UPPER")),
        ],
    );
    assert_refused(
        "MaxPool with SAME padding, dilated by 2^62",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'pool'", "overflows"],
        &defaults(),
    );
    // A pool whose window fits in i32 but whose reads would keep a CPU busy for days: a
    // 40000x40000 kernel over a small image padded to fit, stride 1.
    let mut b = builder();
    b.node(
        "MaxPool",
        "pool",
        &["x"],
        "y",
        vec![
            ("kernel_shape", A::Ints(vec![40_000, 40_000])),
            ("pads", A::Ints(vec![20_000, 20_000, 20_000, 20_000])),
        ],
    );
    assert_refused(
        "MaxPool with a 40000x40000 window",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'pool'", "reads per image"],
        &defaults(),
    );
    // A Slice stepping by i64::MIN (its negation overflows).
    let mut b = builder();
    b.ints("starts", &[-1])
        .ints("ends", &[i64::MIN])
        .ints("axes", &[3])
        .ints("steps", &[i64::MIN])
        .node(
            "Slice",
            "slice",
            &["x", "starts", "ends", "axes", "steps"],
            "y",
            vec![],
        );
    assert_refused(
        "Slice by i64::MIN",
        &b.bytes(),
        "y",
        Stage::Run,
        &["slice", "step"],
        &defaults(),
    );
    // BatchNormalization with one parameter for three channels (no Conv to fold into).
    let mut b = builder();
    for p in ["s", "b", "m", "v"] {
        b.weight(p, &Tensor::new(vec![1], vec![1.0]).unwrap());
    }
    b.node(
        "BatchNormalization",
        "bn",
        &["x", "s", "b", "m", "v"],
        "y",
        vec![],
    );
    assert_refused(
        "BatchNormalization with too few parameters",
        &b.bytes(),
        "y",
        Stage::Run,
        &["node 'bn'", "BatchNormalization"],
        &defaults(),
    );
}

/// A shape computation on the input's (symbolic) shape, folded per input shape: the cap
/// holds there too. ConstantOfShape(Shape(x) · 2^20) asks for N·3·8·8·2^80 values.
#[test]
fn shapes_computed_from_the_input_shape_are_held_to_the_cap() {
    let mut b = builder();
    b.ints("k", &[1 << 20])
        .node("Shape", "shape", &["x"], "s", vec![])
        .node("Mul", "scale", &["s", "k"], "big", vec![])
        .node("ConstantOfShape", "fill", &["big"], "c", vec![])
        .node("Add", "add", &["x", "c"], "y", vec![]);
    let (stage, e) = refused(&b.bytes(), "y", None, &defaults());
    let msg = e.to_string();
    // The declared shape (batch as 1) is resolved at load already.
    assert_eq!(stage, Stage::Load, "{msg}");
    assert!(
        msg.contains("node 'fill'") && msg.contains("max_tensor_elements"),
        "{msg}"
    );
    // With the input's spatial axes symbolic too, only a run knows.
    let mut b = ModelBuilder::new("x", &[None, Some(3), None, None]);
    b.ints("k", &[1 << 20])
        .node("Shape", "shape", &["x"], "s", vec![])
        .node("Mul", "scale", &["s", "k"], "big", vec![])
        .node("ConstantOfShape", "fill", &["big"], "c", vec![])
        .node("Add", "add", &["x", "c"], "y", vec![]);
    let (stage, e) = refused(&b.bytes(), "y", None, &defaults());
    let msg = e.to_string();
    assert_eq!(stage, Stage::Run, "{msg}");
    assert!(
        msg.contains("node 'fill'") && msg.contains("max_tensor_elements"),
        "{msg}"
    );
}

/// The caps are options: a legitimate model is refused under small ones and computes
/// the same under larger ones; batches are split to fit max_total_bytes.
#[test]
fn limits_are_configurable_and_batches_split_to_fit() {
    let mut b = builder();
    b.weight("w", &Rng::new(5).tensor(&[4, 3, 3, 3]))
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            "c",
            vec![("pads", A::Ints(vec![1, 1, 1, 1]))],
        )
        .node("Relu", "relu", &["c"], "y", vec![]);
    let bytes = b.bytes();
    let images: Vec<Tensor> = (0..5).map(image).collect();
    let want = Engine::load(&bytes, "y", None)
        .unwrap()
        .activations_blocking(&images, &[0, 3])
        .unwrap();

    // One tensor of 4×8×8 = 256 values per image is over a cap of 200.
    let small = LoadOptions {
        max_tensor_elements: 200,
        ..LoadOptions::default()
    };
    let (stage, e) = refused(&bytes, "y", None, &small);
    assert_eq!(stage, Stage::Run, "{e}");
    assert!(
        matches!(e, EngineError::Limit(_)) && e.to_string().contains("tensor 'c'"),
        "{e}"
    );
    // The weights alone (108 values, 432 bytes) are over 400 bytes.
    let tiny = LoadOptions {
        max_total_bytes: 400,
        ..LoadOptions::default()
    };
    let e = Engine::load_with(&bytes, "y", None, &tiny).err().unwrap();
    assert!(
        e.to_string().contains("stored tensors") && e.to_string().contains("max_total_bytes"),
        "{e}"
    );
    // One image's run: input 192 + c 256 + y 256 values + weights 108 + bias 4 = 3264
    // bytes. Under 3000 bytes a single image is refused; under 7000 two fit in a batch,
    // and five images run as batches of 2, 2, 1 with the same result.
    let one_image = LoadOptions {
        max_total_bytes: 3000,
        ..LoadOptions::default()
    };
    let e = Engine::load_with(&bytes, "y", None, &one_image)
        .unwrap()
        .activations_blocking(&images, &[0])
        .err()
        .unwrap();
    assert!(e.to_string().contains("max_total_bytes"), "{e}");
    let two_images = LoadOptions {
        max_total_bytes: 7000,
        ..LoadOptions::default()
    };
    let got = Engine::load_with(&bytes, "y", None, &two_images)
        .unwrap()
        .activations_blocking(&images, &[0, 3])
        .unwrap();
    assert_eq!(got, want);
}

#[test]
fn well_formed_integer_initializers_still_load() {
    // INT64 raw_data of the right length (8 bytes per value) is read as before.
    let shape = TensorProto {
        dims: vec![2],
        data_type: INT64,
        name: "shape".into(),
        raw_data: [1i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut b = builder();
    b.initializer(shape)
        .node("Reshape", "reshape", &["x", "shape"], "y", vec![]);
    let e = Engine::load(&b.bytes(), "y", None).unwrap();
    assert_eq!(e.target_shape(&[1, 3, 8, 8]).unwrap(), vec![1, 192]);
}
