//! Whole networks against tract-onnx, an independent ONNX runtime on the CPU: GoogLeNet
//! in its torchvision form (BatchNormalization, ceil-mode pooling) and its Caffe/Lucid
//! form (LRN), a ResNet bottleneck stack, a DenseNet block and a ViT encoder block, with
//! seeded random weights, compared at several inner tensors on our GPU and CPU paths.
//! Tolerance (issue 4): |ours − tract| ≤ 1e-3·|tract| + 1e-4·max|tract| over the layer,
//! and per image the same channel with the largest and with the smallest mean (ties within
//! that tolerance allowed).

mod common;

use common::{gpu, nets, ModelBuilder, Rng};
use exemplar_engine::{Engine, GpuContext, Tensor};
use tract_onnx::prelude::*;

const RTOL: f32 = 1e-3;
const ATOL: f32 = 1e-4;

/// tract's value of `target` for `input`: the model with that tensor as its only output.
fn tract_tensor(m: &ModelBuilder, target: &str, input: &Tensor) -> Tensor {
    let bytes = m.bytes_with_outputs(&[target]);
    let model = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .and_then(|m| m.with_input_fact(0, f32::fact(&input.shape).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap_or_else(|e| panic!("tract cannot load the model up to {target}: {e:?}"));
    let x = tract_onnx::prelude::Tensor::from_shape(&input.shape, &input.data).unwrap();
    let out = model
        .run(tvec!(x.into_tvalue()))
        .unwrap_or_else(|e| panic!("tract failed at {target}: {e:?}"));
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    Tensor::new(view.shape().to_vec(), view.iter().copied().collect()).unwrap()
}

/// Channel means per image, channels on axis 1 ([N, C, ...]) or last ([N, tokens, C]).
fn channel_means(t: &Tensor, tokens: bool) -> Vec<Vec<f32>> {
    let n = t.shape[0];
    let per = t.len() / n;
    let (c, s) = if tokens {
        (t.shape[t.shape.len() - 1], per / t.shape[t.shape.len() - 1])
    } else {
        (t.shape[1], per / t.shape[1])
    };
    (0..n)
        .map(|i| {
            (0..c)
                .map(|ch| {
                    (0..s)
                        .map(|p| {
                            let at = if tokens { p * c + ch } else { ch * s + p };
                            t.data[i * per + at]
                        })
                        .sum::<f32>()
                        / s as f32
                })
                .collect()
        })
        .collect()
}

fn arg(v: &[f32], better: impl Fn(f32, f32) -> bool) -> usize {
    (0..v.len()).fold(0, |b, i| if better(v[i], v[b]) { i } else { b })
}

/// Checks the tolerance and the max/min channels; returns the worst difference.
fn compare(what: &str, got: &Tensor, want: &Tensor, tokens: bool) -> f32 {
    assert_eq!(got.shape, want.shape, "{what}: shapes differ");
    let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 1e-2,
        "{what}: the reference is all but zero (max {scale}), the comparison would be vacuous"
    );
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        let d = (g - w).abs();
        assert!(
            d <= RTOL * w.abs() + ATOL * scale,
            "{what}: value {i} is {g}, tract says {w} (difference {d}, max|tract| {scale})"
        );
        worst = worst.max(d);
    }
    let (gm, wm) = (channel_means(got, tokens), channel_means(want, tokens));
    for (i, (g, w)) in gm.iter().zip(&wm).enumerate() {
        let tol = RTOL * scale + ATOL * scale;
        for (name, better) in [
            ("largest", (|a: f32, b: f32| a > b) as fn(f32, f32) -> bool),
            ("smallest", |a: f32, b: f32| a < b),
        ] {
            let (a, b) = (arg(g, better), arg(w, better));
            assert!(
                a == b || (w[a] - w[b]).abs() <= tol,
                "{what}, image {i}: the {name} channel mean is channel {a} for us, {b} for tract ({} vs {})",
                w[a],
                w[b]
            );
        }
    }
    worst
}

fn check_network(
    label: &str,
    m: &ModelBuilder,
    targets: &[String],
    input: &Tensor,
    tokens_from: usize,
    gpu: Option<&GpuContext>,
) {
    let bytes = m.bytes();
    for (i, target) in targets.iter().enumerate() {
        let tokens = i >= tokens_from;
        let want = tract_tensor(m, target, input);
        let cpu = Engine::load(&bytes, target, None)
            .unwrap()
            .target_tensor_blocking(input)
            .unwrap();
        let wc = compare(&format!("{label} {target} (cpu)"), &cpu, &want, tokens);
        let wg = gpu.map(|g| {
            let got = Engine::load(&bytes, target, Some(g))
                .unwrap()
                .target_tensor_blocking(input)
                .unwrap();
            compare(&format!("{label} {target} (gpu)"), &got, &want, tokens)
        });
        eprintln!(
            "ok  {label:<22} {target:<12} {:?}  max|cpu - tract| {wc:.2e}  max|gpu - tract| {}",
            want.shape,
            wg.map_or("(no GPU)".to_string(), |w| format!("{w:.2e}"))
        );
    }
}

#[test]
fn googlenet_torchvision_form_matches_tract() {
    let g = gpu();
    let (m, names) = nets::googlenet(1, false, None, 67);
    let input = Rng::new(2).tensor(&[2, 3, 67, 67]);
    check_network(
        "googlenet torchvision",
        &m,
        &names,
        &input,
        usize::MAX,
        g.as_ref(),
    );
}

#[test]
fn googlenet_caffe_form_matches_tract() {
    let g = gpu();
    let (m, names) = nets::googlenet(3, true, None, 67);
    let mut input = Rng::new(4).tensor(&[2, 3, 67, 67]);
    // Caffe models see pixel values in 0..255 minus a mean: LRN then matters.
    input.data.iter_mut().for_each(|v| *v *= 120.0);
    check_network(
        "googlenet caffe/lucid",
        &m,
        &names,
        &input,
        usize::MAX,
        g.as_ref(),
    );
}

#[test]
fn resnet_bottlenecks_match_tract() {
    let g = gpu();
    let (m, names) = nets::resnet(5, 61);
    let input = Rng::new(6).tensor(&[2, 3, 61, 61]);
    check_network(
        "resnet bottlenecks",
        &m,
        &names,
        &input,
        usize::MAX,
        g.as_ref(),
    );
}

#[test]
fn densenet_block_matches_tract() {
    let g = gpu();
    let (m, names) = nets::densenet(7, 45);
    let input = Rng::new(8).tensor(&[2, 3, 45, 45]);
    check_network("densenet block", &m, &names, &input, usize::MAX, g.as_ref());
}

#[test]
fn vit_block_matches_tract() {
    let g = gpu();
    let (m, names) = nets::vit_block(9, 64, 16, 48);
    let input = Rng::new(10).tensor(&[1, 3, 64, 64]);
    check_network("vit block", &m, &names, &input, 0, g.as_ref());
}
