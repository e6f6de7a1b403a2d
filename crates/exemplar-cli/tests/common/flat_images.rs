//! A model whose activations are known in closed form and flat-colour images for it:
//! `exemplar exemplars`'s tests (one layer, several layers, shards).

use std::path::{Path, PathBuf};

use super::onnx::{model, node, value, weight};
use exemplar_core::selection::Side;

pub const IMAGES: usize = 60;

/// x → Conv 1×1 (2 channels: +R, −G) → `feat` → Relu → `act` → Conv 1×1 (5 channels) → `head`.
pub fn onnx_model() -> Vec<u8> {
    let node = |op: &str, inputs: &[&str], out: &str| node(op, out, inputs, out, &[]);
    model(
        "linear",
        vec![
            node("Conv", &["x", "w1"], "feat"),
            node("Relu", &["feat"], "act"),
            node("Conv", &["act", "w2"], "head"),
        ],
        vec![
            weight("w1", &[2, 3, 1, 1], vec![1.0, 0.0, 0.0, 0.0, -1.0, 0.0]),
            weight(
                "w2",
                &[5, 2, 1, 1],
                (0..10).map(|i| i as f32 / 10.0).collect(),
            ),
        ],
        vec![value("x", &[-1, 3, 224, 224])],
        vec![value("head", &[-1, 5, 224, 224])],
    )
}

/// Image k is flat (r, g, 128): r and g are two different permutations of the images, so
/// neither channel's ranking follows the file names.
pub fn colour(k: usize) -> [u8; 3] {
    [
        (4 * ((k * 7) % IMAGES) + 10) as u8,
        (4 * ((k * 13) % IMAGES) + 10) as u8,
        128,
    ]
}

/// Where image k is written: half of them in a subfolder (the folder is searched recursively).
pub fn image_path(root: &Path, k: usize) -> PathBuf {
    if k < IMAGES / 2 {
        root.join(format!("img_{k:02}.png"))
    } else {
        root.join("more").join(format!("img_{k:02}.png"))
    }
}

/// Channel 0 rises with red, channel 1 falls with green: the image at `rank` (0-based)
/// from the top (max side) or the bottom (min side).
pub fn image_at(channel: usize, side: Side, rank: usize) -> usize {
    let level = |k: usize| colour(k)[channel] as usize;
    let mut by_activation: Vec<usize> = (0..IMAGES).collect();
    // Most activating first.
    by_activation.sort_by_key(|&k| {
        if channel == 0 {
            std::cmp::Reverse(level(k))
        } else {
            std::cmp::Reverse(255 - level(k))
        }
    });
    match side {
        Side::Max => by_activation[rank],
        Side::Min => by_activation[IMAGES - 1 - rank],
    }
}

/// Which test image a written stimulus is (its flat colour identifies it).
pub fn which(path: &Path) -> usize {
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (224, 224), "{}", path.display());
    let p = img.get_pixel(111, 57).0;
    assert!(
        img.pixels().all(|q| q.0 == p),
        "{} is not flat",
        path.display()
    );
    (0..IMAGES)
        .find(|&k| colour(k) == p)
        .unwrap_or_else(|| panic!("{}: colour {p:?} is no test image", path.display()))
}

pub fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("exemplar-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let images = dir.join("images");
    std::fs::create_dir_all(images.join("more")).unwrap();
    for k in 0..IMAGES {
        // Not square and small: the default preprocessing resizes and crops to 224×224.
        image::RgbImage::from_pixel(20, 16, image::Rgb(colour(k)))
            .save(image_path(&images, k))
            .unwrap();
    }
    let model = dir.join("linear.onnx");
    std::fs::write(&model, onnx_model()).unwrap();
    (dir, images, model)
}

/// A copy of a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// Every file under `root` (relative path → bytes).
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
