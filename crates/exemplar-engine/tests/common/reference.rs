//! Comparing our tensors with tract-onnx's, an independent ONNX runtime on the CPU, with
//! issue 4's tolerance: |ours − tract| ≤ 1e-3·|tract| + 1e-4·max|tract| over the layer, and
//! per image the same channel with the largest and with the smallest mean (ties within that
//! tolerance allowed).

use exemplar_engine::Tensor;
use tract_onnx::prelude::*;

pub const RTOL: f32 = 1e-3;
pub const ATOL: f32 = 1e-4;

/// tract's value of the tensor named `target` for `input`, with that tensor as the model's
/// only output (so tract computes only what it needs).
pub fn tract_tensor(model_bytes: &[u8], target: &str, input: &Tensor) -> Tensor {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &model_bytes[..])
        .and_then(|m| m.with_outputs_by_name([target]))
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
pub fn channel_means(t: &Tensor, tokens: bool) -> Vec<Vec<f32>> {
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

/// The index of the best value by `better` (the first on ties).
pub fn arg(v: &[f32], better: impl Fn(f32, f32) -> bool) -> usize {
    (0..v.len()).fold(0, |b, i| if better(v[i], v[b]) { i } else { b })
}

/// The index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    arg(v, |a, b| a > b)
}

/// Checks the tolerance and the max/min channels; returns the worst difference.
pub fn compare(what: &str, got: &Tensor, want: &Tensor, tokens: bool) -> f32 {
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
