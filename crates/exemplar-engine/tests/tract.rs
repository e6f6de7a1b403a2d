//! Whole networks against tract-onnx, an independent ONNX runtime on the CPU: GoogLeNet
//! in its torchvision form (BatchNormalization, ceil-mode pooling) and its Caffe/Lucid
//! form (LRN), a ResNet bottleneck stack, a DenseNet block and a ViT encoder block, with
//! seeded random weights, compared at several inner tensors on our GPU and CPU paths.
//! Tolerance (issue 4): |ours − tract| ≤ 1e-3·|tract| + 1e-4·max|tract| over the layer,
//! and per image the same channel with the largest and with the smallest mean (ties within
//! that tolerance allowed).

mod common;

use common::reference::{self, compare};
use common::{gpu, nets, ModelBuilder, Rng};
use exemplar_engine::{Engine, GpuContext, Tensor};

/// tract's value of `target` for `input`.
fn tract_tensor(m: &ModelBuilder, target: &str, input: &Tensor) -> Tensor {
    reference::tract_tensor(&m.bytes_with_outputs(&[target]), target, input)
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
