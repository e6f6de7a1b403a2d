//! Real exports: every architecture of the IMI study (torchvision GoogLeNet, ResNet-50,
//! WideResNet-50-2, DenseNet-201, ConvNeXt-B and ViT-B/32; timm's ConvNeXt-B and
//! ViT-B/32; open_clip's RN50 and ViT-B-32 image towers; the Caffe/Lucid InceptionV1 with
//! LRN), small but built from its library's own blocks, exported by both of torch's
//! exporters at several opsets by `scripts/export_fixtures.py`, which also wrote
//! onnxruntime's unit activations at inner tensors for three images. Those files are
//! committed in `tests/data/exports/` (see its `manifest.json` for the versions); here every
//! one must load, at every target, and match onnxruntime on the CPU and on the GPU with
//! issue 4's tolerance (`common::reference`).

mod common;

use std::path::{Path, PathBuf};

use common::reference::{ATOL, RTOL};
use exemplar_engine::{Engine, GpuContext, Tensor};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exports")
}

struct Target {
    name: String,
    /// `means[i][c]`: the mean of channel `c` for image `i`, by onnxruntime.
    means: Vec<Vec<f32>>,
}

struct Fixture {
    file: String,
    label: String,
    targets: Vec<Target>,
}

fn manifest() -> (Vec<Fixture>, Vec<Tensor>) {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let m: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let shape: Vec<usize> = m["input"]["shape"]
        .as_array()
        .expect("input.shape")
        .iter()
        .map(|d| d.as_u64().expect("a dimension") as usize)
        .collect();
    let bytes = std::fs::read(dir().join(m["input"]["file"].as_str().expect("input.file")))
        .expect("the inputs file");
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let input = Tensor::new(shape.clone(), data).expect("inputs.bin has the shape it says");
    let per = input.len() / shape[0];
    let images = (0..shape[0])
        .map(|i| {
            Tensor::new(
                shape[1..].to_vec(),
                input.data[i * per..(i + 1) * per].to_vec(),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let fixtures = m["fixtures"]
        .as_array()
        .expect("fixtures")
        .iter()
        .map(|f| Fixture {
            file: f["file"].as_str().unwrap().to_string(),
            label: format!(
                "{} ({} exporter, opset {})",
                f["architecture"].as_str().unwrap(),
                f["exporter"].as_str().unwrap(),
                f["opset"]
            ),
            targets: f["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| Target {
                    name: t["name"].as_str().unwrap().to_string(),
                    means: t["means"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|row| {
                            row.as_array()
                                .unwrap()
                                .iter()
                                .map(|v| v.as_f64().unwrap() as f32)
                                .collect()
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    (fixtures, images)
}

/// The largest |ours − onnxruntime| over the layer, or why it is out of tolerance.
fn compare(got: &[Vec<f32>], want: &[Vec<f32>]) -> Result<f32, String> {
    if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g.len() != w.len()) {
        return Err(format!(
            "{} images x {} channels, onnxruntime has {} x {}",
            got.len(),
            got.first().map_or(0, Vec::len),
            want.len(),
            want.first().map_or(0, Vec::len)
        ));
    }
    let scale = want.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (c, (&g, &w)) in g.iter().zip(w).enumerate() {
            let d = (g - w).abs();
            if d.is_nan() || d > RTOL * w.abs() + ATOL * scale.max(1.0) {
                return Err(format!(
                    "image {i} channel {c}: {g}, onnxruntime {w} (layer max {scale})"
                ));
            }
            worst = worst.max(d);
        }
    }
    Ok(worst)
}

/// Runs every target of every fixture on `gpu` (or the CPU) and reports all mismatches
/// at once.
fn check_all(gpu: Option<&GpuContext>) {
    let (fixtures, images) = manifest();
    let backend = if gpu.is_some() { "gpu" } else { "cpu" };
    let mut failures = Vec::new();
    let mut checked = 0;
    for f in &fixtures {
        let bytes = std::fs::read(dir().join(&f.file)).expect("a fixture listed in the manifest");
        for t in &f.targets {
            let result = Engine::load(&bytes, &t.name, gpu)
                .and_then(|e| {
                    let channels: Vec<usize> = (0..e.channels(&[1, 3, 64, 64])?).collect();
                    e.activations_blocking(&images, &channels)
                })
                .map_err(|e| e.to_string())
                .and_then(|got| compare(&got, &t.means));
            match result {
                Ok(worst) => {
                    checked += 1;
                    eprintln!(
                        "ok  {backend} {:<44} {:<24} max|d| {worst:.1e}",
                        f.file, t.name
                    );
                }
                Err(e) => failures.push(format!(
                    "{} = {}, target '{}': {e}",
                    f.file, f.label, t.name
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} targets fail on the {backend}:\n{}",
        failures.len(),
        checked + failures.len(),
        failures.join("\n")
    );
    assert!(
        checked >= 4 * fixtures.len() - fixtures.len(),
        "too few targets: {checked}"
    );
}

/// The manifest and the folder agree: every export is listed and every listed one is there.
#[test]
fn every_export_in_the_folder_is_in_the_manifest() {
    let (fixtures, images) = manifest();
    assert!(fixtures.len() >= 11, "{} fixtures", fixtures.len());
    assert_eq!(images.len(), 3);
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = fixtures.iter().map(|f| f.file.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_export_matches_onnxruntime_on_the_cpu() {
    check_all(None);
}

#[test]
fn every_export_matches_onnxruntime_on_the_gpu() {
    if let Some(g) = common::gpu() {
        check_all(Some(&g));
    }
}
