//! A small GoogLeNet-like network built here (stem with BatchNormalization, LRN,
//! ceil-mode pooling, an inception block with a Concat, depthwise conv, swish, residual
//! Add, classifier), run on the GPU and the CPU and compared at inner tensors; plus
//! pruning, BatchNormalization folding and the load-time errors.
//! Tolerance GPU vs CPU: |gpu − cpu| ≤ 1e-4·|cpu| + 1e-5·max(1, max|cpu|).

mod common;

use common::{assert_close, gpu, ModelBuilder, Rng, A};
use exemplar_engine::{Engine, EngineError, GpuContext, Tensor};

fn ints(v: &[i64]) -> A {
    A::Ints(v.to_vec())
}

/// Conv weights scaled so activations stay around 1 through the network.
fn conv_w(r: &mut Rng, shape: &[usize]) -> Tensor {
    let fan_in: usize = shape[1..].iter().product();
    let mut t = r.tensor(shape);
    t.data
        .iter_mut()
        .for_each(|v| *v *= (3.0 / fan_in as f32).sqrt());
    t
}

fn network() -> ModelBuilder {
    network_of_batch(None)
}

/// [`network`] with its input's batch axis fixed (`Some`) or not.
fn network_of_batch(batch: Option<usize>) -> ModelBuilder {
    let mut r = Rng::new(42);
    let mut m = ModelBuilder::new("image", &[batch, Some(3), Some(32), Some(32)]);
    let var: Vec<f32> = r.vec(8).iter().map(|v| v.abs() + 0.5).collect();
    m.weight("stem.w", &conv_w(&mut r, &[8, 3, 7, 7]))
        .weight("bn.s", &r.tensor(&[8]))
        .weight("bn.b", &r.tensor(&[8]))
        .weight("bn.m", &r.tensor(&[8]))
        .weight("bn.v", &Tensor::new(vec![8], var).unwrap())
        .node(
            "Conv",
            "stem",
            &["image", "stem.w"],
            "stem_conv",
            vec![("strides", ints(&[2, 2])), ("pads", ints(&[3, 3, 3, 3]))],
        )
        .node(
            "BatchNormalization",
            "stem_bn",
            &["stem_conv", "bn.s", "bn.b", "bn.m", "bn.v"],
            "stem_bn",
            vec![],
        )
        .node("Relu", "stem_relu", &["stem_bn"], "stem_relu", vec![])
        .node(
            "MaxPool",
            "pool1",
            &["stem_relu"],
            "pool1",
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("ceil_mode", A::I(1)),
            ],
        )
        .node(
            "LRN",
            "lrn1",
            &["pool1"],
            "lrn1",
            vec![
                ("size", A::I(5)),
                ("alpha", A::F(1e-4)),
                ("beta", A::F(0.75)),
            ],
        );
    // Inception block: 1x1 | 1x1 -> 3x3 | maxpool -> 1x1, concatenated.
    m.weight("b1.w", &conv_w(&mut r, &[4, 8, 1, 1]))
        .weight("b1.b", &r.tensor(&[4]))
        .weight("b2a.w", &conv_w(&mut r, &[4, 8, 1, 1]))
        .weight("b2a.b", &r.tensor(&[4]))
        .weight("b2b.w", &conv_w(&mut r, &[6, 4, 3, 3]))
        .weight("b2b.b", &r.tensor(&[6]))
        .weight("b3.w", &conv_w(&mut r, &[3, 8, 1, 1]))
        .weight("b3.b", &r.tensor(&[3]))
        .node("Conv", "b1", &["lrn1", "b1.w", "b1.b"], "b1", vec![])
        .node("Relu", "b1_relu", &["b1"], "b1_relu", vec![])
        .node("Conv", "b2a", &["lrn1", "b2a.w", "b2a.b"], "b2a", vec![])
        .node("Relu", "b2a_relu", &["b2a"], "b2a_relu", vec![])
        .node(
            "Conv",
            "b2b",
            &["b2a_relu", "b2b.w", "b2b.b"],
            "b2b",
            vec![("pads", ints(&[1, 1, 1, 1]))],
        )
        .node("Relu", "b2b_relu", &["b2b"], "b2b_relu", vec![])
        .node(
            "MaxPool",
            "b3_pool",
            &["lrn1"],
            "b3_pool",
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("pads", ints(&[1, 1, 1, 1])),
            ],
        )
        .node("Conv", "b3", &["b3_pool", "b3.w", "b3.b"], "b3", vec![])
        .node("Relu", "b3_relu", &["b3"], "b3_relu", vec![])
        .node(
            "Concat",
            "mixed",
            &["b1_relu", "b2b_relu", "b3_relu"],
            "mixed",
            vec![("axis", A::I(1))],
        );
    // Depthwise conv, Clip, swish (x * sigmoid(x)), residual Add, average pooling.
    m.weight("dw.w", &conv_w(&mut r, &[13, 1, 3, 3]))
        .weight("dw.b", &r.tensor(&[13]))
        .node(
            "Conv",
            "dw",
            &["mixed", "dw.w", "dw.b"],
            "dw",
            vec![("group", A::I(13)), ("pads", ints(&[1, 1, 1, 1]))],
        )
        .node(
            "Clip",
            "clip",
            &["dw"],
            "clip",
            vec![("min", A::F(-2.0)), ("max", A::F(6.0))],
        )
        .node("Sigmoid", "sig", &["clip"], "sig", vec![])
        .node("Mul", "swish", &["clip", "sig"], "swish", vec![])
        .node("Add", "residual", &["swish", "mixed"], "residual", vec![])
        .node(
            "AveragePool",
            "avg",
            &["residual"],
            "avg",
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("pads", ints(&[1, 1, 1, 1])),
                ("count_include_pad", A::I(1)),
            ],
        )
        .node("GlobalAveragePool", "gap", &["avg"], "gap", vec![])
        .node("Flatten", "flat", &["gap"], "flat", vec![])
        .weight("fc.w", &r.tensor(&[10, 13]))
        .weight("fc.b", &r.tensor(&[10]))
        .node(
            "Gemm",
            "fc",
            &["flat", "fc.w", "fc.b"],
            "logits",
            vec![("transB", A::I(1))],
        )
        // Something the engine cannot run, after everything else.
        .node("TopK", "topk", &["logits"], "top", vec![]);
    m
}

const INNER: &[&str] = &[
    "stem_bn", "pool1", "lrn1", "b2b_relu", "mixed", "residual", "avg", "gap", "logits",
];

#[test]
fn gpu_matches_cpu_at_inner_tensors() {
    let Some(gpu) = gpu() else { return };
    let bytes = network().bytes();
    let input = Rng::new(5).tensor(&[2, 3, 32, 32]);
    for target in INNER {
        let cpu = Engine::load(&bytes, target, None)
            .unwrap()
            .target_tensor_blocking(&input)
            .unwrap();
        let g = Engine::load(&bytes, target, Some(&gpu)).unwrap();
        let got = g.target_tensor_blocking(&input).unwrap();
        let worst = assert_close(target, &got, &cpu, 1e-4, 1e-5);
        let scale = cpu.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            scale > 1e-3,
            "{target}: the reference is all but zero ({scale}), the comparison would be vacuous"
        );
        eprintln!(
            "ok  {target:<10} {:?} max|cpu| {scale:.3} max|gpu - cpu| {worst:.2e}",
            cpu.shape
        );
    }
}

#[test]
fn activations_are_channel_means_on_both_backends() {
    let bytes = network().bytes();
    let mut r = Rng::new(9);
    let images: Vec<Tensor> = (0..3).map(|_| r.tensor(&[3, 32, 32])).collect();
    let channels = [12, 0, 5];
    let cpu = Engine::load(&bytes, "mixed", None).unwrap();
    let acts = cpu.activations_blocking(&images, &channels).unwrap();
    assert_eq!(acts.len(), 3);
    for (i, img) in images.iter().enumerate() {
        let batch = Tensor::new(vec![1, 3, 32, 32], img.data.clone()).unwrap();
        let t = cpu.target_tensor_blocking(&batch).unwrap();
        let s = t.shape[2] * t.shape[3];
        for (k, &c) in channels.iter().enumerate() {
            let mean = t.data[c * s..(c + 1) * s].iter().sum::<f32>() / s as f32;
            assert!(
                (acts[i][k] - mean).abs() <= 1e-6 * mean.abs().max(1.0),
                "image {i} channel {c}"
            );
        }
    }
    if let Some(gpu) = gpu() {
        let g = Engine::load(&bytes, "mixed", Some(&gpu))
            .unwrap()
            .activations_blocking(&images, &channels)
            .unwrap();
        for (a, b) in acts.iter().flatten().zip(g.iter().flatten()) {
            assert!((a - b).abs() <= 1e-4 * a.abs() + 1e-5, "gpu {b} vs cpu {a}");
        }
    }
    let err = cpu.activations_blocking(&images, &[13]).unwrap_err();
    assert!(
        err.to_string().contains("channel 13 does not exist"),
        "{err}"
    );
}

/// A device whose buffers are too small for the whole batch: the engine runs it in
/// sub-batches and gets exactly what one batch gets; too small for one image, it says which
/// tensor needs how much.
#[test]
fn batches_beyond_the_buffer_limit_are_split() {
    let Some(gpu) = gpu() else { return };
    let bytes = network().bytes();
    let mut r = Rng::new(17);
    let images: Vec<Tensor> = (0..7).map(|_| r.tensor(&[3, 32, 32])).collect();
    let channels = [0, 5, 12];
    let whole = Engine::load(&bytes, "mixed", Some(&gpu))
        .unwrap()
        .activations_blocking(&images, &channels)
        .unwrap();
    // The largest tensor per image is the input, 3·32·32 floats (12,288 bytes): three
    // images fit in 40,000 bytes, seven do not.
    let small = pollster::block_on(GpuContext::with_max_buffer_bytes(40_000)).unwrap();
    let split = Engine::load(&bytes, "mixed", Some(&small)).unwrap();
    assert!(
        split
            .target_tensor_blocking(
                &Tensor::new(vec![7, 3, 32, 32], vec![0.0; 7 * 3 * 1024]).unwrap()
            )
            .is_err(),
        "one batch of 7 must not fit the lowered limit"
    );
    let got = split.activations_blocking(&images, &channels).unwrap();
    assert_eq!(got, whole, "split batches differ from one batch");

    let tiny = pollster::block_on(GpuContext::with_max_buffer_bytes(10_000)).unwrap();
    let err = Engine::load(&bytes, "mixed", Some(&tiny))
        .unwrap()
        .activations_blocking(&images, &channels)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tensor 'image' needs 12288 bytes") && err.contains("at most 10000 bytes"),
        "{err}"
    );
}

#[test]
fn pruning_runs_nothing_after_the_target() {
    let bytes = network().bytes();
    // The Softmax after the classifier is never loaded, so it is no error.
    let e = Engine::load(&bytes, "b2b_relu", None).unwrap();
    assert_eq!(
        e.op_types(),
        // stem Conv with the BatchNormalization folded in, then only branch 2.
        ["Conv", "Relu", "MaxPool", "LRN", "Conv", "Relu", "Conv", "Relu"]
    );
    let e = Engine::load(&bytes, "logits", None).unwrap();
    assert!(!e.op_types().contains(&"Softmax"));
    assert_eq!(e.op_types().last(), Some(&"Gemm"));
    assert_eq!(e.target_shape(&[4, 3, 32, 32]).unwrap(), vec![4, 10]);
}

#[test]
fn batch_norm_folding_is_exact_enough() {
    let bytes = network().bytes();
    let input = Rng::new(3).tensor(&[2, 3, 32, 32]);
    let folded = Engine::load(&bytes, "stem_bn", None).unwrap();
    assert_eq!(
        folded.op_types(),
        ["Conv"],
        "BatchNormalization was not folded"
    );
    let got = folded.target_tensor_blocking(&input).unwrap();
    // Reference: the plain convolution (the BN is pruned away), then BN by its formula.
    let conv = Engine::load(&bytes, "stem_conv", None)
        .unwrap()
        .target_tensor_blocking(&input)
        .unwrap();
    let model = network().model();
    let init = &model.graph.as_ref().unwrap().initializer;
    let get = |n: &str| {
        init.iter()
            .find(|t| t.name == n)
            .unwrap()
            .to_f32()
            .unwrap()
            .data
    };
    let (s, b, m, v) = (get("bn.s"), get("bn.b"), get("bn.m"), get("bn.v"));
    let hw = conv.shape[2] * conv.shape[3];
    let mut want = conv.clone();
    for (i, x) in want.data.iter_mut().enumerate() {
        let c = (i / hw) % 8;
        *x = (*x - m[c]) / (v[c] + 1e-5).sqrt() * s[c] + b[c];
    }
    let worst = assert_close("folded BatchNormalization", &got, &want, 1e-5, 1e-5);
    eprintln!("folded vs explicit BatchNormalization: max difference {worst:.2e}");
    // When the target is the convolution itself, nothing is folded into it.
    assert_eq!(
        Engine::load(&bytes, "stem_conv", None).unwrap().op_types(),
        ["Conv"]
    );
}

#[test]
fn unsupported_operator_is_a_load_error_naming_the_node() {
    let bytes = network().bytes();
    let err = Engine::load(&bytes, "top", None)
        .err()
        .expect("TopK must be refused");
    assert!(matches!(err, EngineError::UnsupportedOp { .. }));
    assert_eq!(
        err.to_string(),
        "node 'topk' uses the operator TopK, which the engine does not support"
    );
}

#[test]
fn bad_requests_are_errors_for_people() {
    let bytes = network().bytes();
    let err = Engine::load(&bytes, "inception4a", None).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("the model has no tensor named 'inception4a'; it has"),
        "{err}"
    );
    let err = Engine::load(&bytes, "stem.w", None).err().unwrap();
    assert!(err.to_string().contains("is a constant"), "{err}");
    let err = Engine::load(b"not a model at all", "x", None)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("the model is not a valid ONNX file"),
        "{err}"
    );
    let e = Engine::load(&bytes, "mixed", None).unwrap();
    let err = e
        .activations_blocking(&[Tensor::zeros(&[1, 32, 32])], &[0])
        .unwrap_err();
    assert!(err.to_string().contains("expects shape"), "{err}");
}

/// Several targets load as one graph and run in one pass: each node once, every target's
/// channels read back, the same values as one engine per target (on both backends).
#[test]
fn several_targets_run_in_one_pass() {
    let bytes = network().bytes();
    let options = exemplar_engine::LoadOptions::default();
    let targets = ["logits", "stem_conv", "mixed", "b2b_relu", "residual"];
    let channels: [&[usize]; 5] = [&[9, 0], &[7], &[12, 0, 5], &[], &[3, 1]];
    let mut r = Rng::new(23);
    let images: Vec<Tensor> = (0..5).map(|_| r.tensor(&[3, 32, 32])).collect();

    let one = Engine::from_model_targets(&network().model(), &targets, None, &options).unwrap();
    assert_eq!(one.targets(), targets);
    // Each node once: as many operators as the deepest target needs, plus the
    // BatchNormalization that stays because its convolution's output is a target.
    let deepest = Engine::load(&bytes, "logits", None)
        .unwrap()
        .op_types()
        .len();
    assert_eq!(one.op_types().len(), deepest + 1, "{:?}", one.op_types());
    assert!(one.op_types().contains(&"BatchNormalization"));
    assert_eq!(
        one.target_shapes(&[2, 3, 32, 32]).unwrap()[..2],
        [vec![2, 10], vec![2, 8, 16, 16]]
    );

    let got = one.activations_of_blocking(&images, &channels).unwrap();
    let mut want: Vec<Vec<f32>> = vec![Vec::new(); images.len()];
    for (t, list) in targets.iter().zip(channels) {
        let e = Engine::load(&bytes, t, None).unwrap();
        for (row, a) in want
            .iter_mut()
            .zip(e.activations_blocking(&images, list).unwrap())
        {
            row.extend(a);
        }
    }
    assert_eq!(got.len(), images.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), 8, "image {i}: one value per channel listed");
        for (k, (a, b)) in g.iter().zip(w).enumerate() {
            // Unfolded BatchNormalization rounds differently in the last bits.
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "image {i} column {k}: {a} in one pass, {b} alone"
            );
        }
    }
    if let Some(gpu) = gpu() {
        let g = Engine::from_model_targets(&network().model(), &targets, Some(&gpu), &options)
            .unwrap()
            .activations_of_blocking(&images, &channels)
            .unwrap();
        assert_eq!(g.len(), got.len());
        for (a, b) in got.iter().flatten().zip(g.iter().flatten()) {
            assert!((a - b).abs() <= 1e-4 * a.abs() + 1e-5, "gpu {b} vs cpu {a}");
        }
        assert_eq!(g.iter().map(Vec::len).sum::<usize>(), 5 * 8);
    }

    // Requests that do not fit the targets are errors that say so.
    let err = one.activations_blocking(&images, &[0]).unwrap_err();
    assert!(err.to_string().contains("computes 5 targets"), "{err}");
    let err = one
        .activations_of_blocking(&images, &channels[..2])
        .unwrap_err();
    assert!(
        err.to_string().contains("2 channel lists for 5 targets"),
        "{err}"
    );
    let err = one
        .activations_of_blocking(&images, &[&[0], &[8], &[0], &[], &[0]])
        .unwrap_err();
    assert!(
        err.to_string().contains("channel 8 does not exist"),
        "{err}"
    );
    for (bad, says) in [
        (&["mixed", "logits", "mixed"][..], "'mixed' is named twice"),
        (&["mixed", "nope"][..], "nope"),
        (&[][..], "no target tensor"),
    ] {
        let err = Engine::from_model_targets(&network().model(), bad, None, &options)
            .err()
            .expect("refused");
        assert!(err.to_string().contains(says), "{bad:?}: {err}");
    }
}

/// An image's activations do not depend on the images beside it: alone, in a batch of
/// five, split into the sub-batches the CPU runs, or in batches run side by side on
/// several threads, the same bits (so shards and resumed runs, whose chunks start
/// elsewhere, write what one run writes).
#[test]
fn activations_do_not_depend_on_the_batch() {
    let bytes = network().bytes();
    // Batches of one fixed by the model: five batches, which the CPU runs on as many
    // threads as products may use (two or more where the machine has the cores).
    let fixed = network_of_batch(Some(1)).bytes();
    let mut r = Rng::new(31);
    let images: Vec<Tensor> = (0..5).map(|_| r.tensor(&[3, 32, 32])).collect();
    for target in ["logits", "gap", "mixed", "residual"] {
        let e = Engine::load(&bytes, target, None).unwrap();
        let channels: Vec<usize> = (0..e.channels(&[1, 3, 32, 32]).unwrap()).collect();
        let together = e.activations_blocking(&images, &channels).unwrap();
        let side_by_side = Engine::load(&fixed, target, None)
            .unwrap()
            .activations_blocking(&images, &channels)
            .unwrap();
        assert_eq!(
            side_by_side, together,
            "{target}: batches of one side by side"
        );
        for (i, img) in images.iter().enumerate() {
            let alone = e
                .activations_blocking(std::slice::from_ref(img), &channels)
                .unwrap();
            let (a, b): (Vec<u32>, Vec<u32>) = (
                alone[0].iter().map(|v| v.to_bits()).collect(),
                together[i].iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(a, b, "{target}: image {i} alone differs from in a batch");
        }
        // A pair and a triple: other batch sizes, the same bits.
        let split: Vec<Vec<f32>> = [&images[..2], &images[2..]]
            .iter()
            .flat_map(|part| e.activations_blocking(part, &channels).unwrap())
            .collect();
        assert_eq!(split, together, "{target}");
    }
}
