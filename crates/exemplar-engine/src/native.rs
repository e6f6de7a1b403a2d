//! Native-only helpers: decoding image files and the `exemplar activations` command.

use std::path::Path;

use crate::{Backend, Engine, EngineError, Preprocess, Result, Tensor};

/// Decodes a PNG or JPEG file into interleaved 8-bit RGB: `(pixels, width, height)`.
pub fn decode_image(path: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let img = image::open(path)
        .map_err(|e| EngineError::Io(format!("cannot read image {}: {e}", path.display())))?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((rgb.into_raw(), w, h))
}

/// What `exemplar activations` prints: one `{"image", "channel", "activation"}` object
/// per image and channel, images in the given order.
pub fn activations_json(
    model_path: &Path,
    layer: &str,
    channels: &[usize],
    preprocess: &Preprocess,
    backend: Backend,
    image_paths: &[&Path],
) -> Result<Vec<serde_json::Value>> {
    let bytes = std::fs::read(model_path)
        .map_err(|e| EngineError::Io(format!("cannot read model {}: {e}", model_path.display())))?;
    let engine = Engine::new_blocking(&bytes, layer, backend)?;
    let images: Vec<Tensor> = image_paths
        .iter()
        .map(|p| {
            let (rgb, w, h) = decode_image(p)?;
            preprocess.apply(&rgb, w, h)
        })
        .collect::<Result<_>>()?;
    let acts = engine.activations_blocking(&images, channels)?;
    Ok(image_paths
        .iter()
        .zip(&acts)
        .flat_map(|(p, a)| {
            channels.iter().zip(a).map(move |(c, v)| {
                serde_json::json!({ "image": p.display().to_string(), "channel": c, "activation": v })
            })
        })
        .collect())
}
