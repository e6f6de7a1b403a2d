//! Native-only helpers: decoding image files and the `exemplar activations` command.

use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

use crate::{Backend, Engine, EngineError, LoadOptions, Preprocess, Result, Tensor};

/// Caps on an image file, checked on its header before any pixel is decoded (a PNG of a
/// few hundred bytes can declare 1×100,000 pixels, which a resize of the shorter side to
/// 256 would turn into 25.6 million rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most pixels (width × height). Default: 50,000,000 (e.g. 8,660 × 5,773, more
    /// than most cameras give).
    pub max_pixels: u64,
    /// The most the longer side may exceed the shorter: width / height and height /
    /// width at most this. Default: 20 (wide panoramas pass; 1×100,000 does not).
    pub max_aspect_ratio: u32,
}

impl ImageLimits {
    /// Default of [`ImageLimits::max_pixels`].
    pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;
    /// Default of [`ImageLimits::max_aspect_ratio`].
    pub const DEFAULT_MAX_ASPECT_RATIO: u32 = 20;

    /// Checks an image's declared size; `name` (the file) is named in the error.
    pub fn check(&self, width: u32, height: u32, name: &str) -> Result<()> {
        let (w, h) = (u64::from(width), u64::from(height));
        if w == 0 || h == 0 {
            return Err(EngineError::Io(format!(
                "image {name} declares {width}x{height} pixels"
            )));
        }
        if w * h > self.max_pixels {
            return Err(EngineError::Limit(format!(
                "image {name} declares {width}x{height} = {} pixels, over the limit of {} pixels",
                w * h,
                self.max_pixels
            )));
        }
        if w.max(h) > h.min(w) * u64::from(self.max_aspect_ratio) {
            return Err(EngineError::Limit(format!(
                "image {name} declares {width}x{height} pixels, an aspect ratio over the limit of {}:1",
                self.max_aspect_ratio
            )));
        }
        Ok(())
    }
}

impl Default for ImageLimits {
    fn default() -> ImageLimits {
        ImageLimits {
            max_pixels: ImageLimits::DEFAULT_MAX_PIXELS,
            max_aspect_ratio: ImageLimits::DEFAULT_MAX_ASPECT_RATIO,
        }
    }
}

/// Decodes a PNG or JPEG file into interleaved 8-bit RGB: `(pixels, width, height)`,
/// after checking its header against the default [`ImageLimits`].
pub fn decode_image(path: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let name = path.display().to_string();
    let open = || {
        image::ImageReader::open(path)
            .map_err(|e| EngineError::Io(format!("cannot read image {name}: {e}")))
    };
    decode_checked(open, &name, &ImageLimits::default())
}

/// [`decode_image`] from a file's bytes; `name` says which file in errors.
pub fn decode_image_bytes(
    bytes: &[u8],
    name: &str,
    limits: &ImageLimits,
) -> Result<(Vec<u8>, u32, u32)> {
    decode_checked(
        || Ok(image::ImageReader::new(Cursor::new(bytes))),
        name,
        limits,
    )
}

/// Reads the header (dimensions only), checks them, then decodes with the image crate's
/// own limits set to the same size.
fn decode_checked<R: BufRead + Seek>(
    open: impl Fn() -> Result<image::ImageReader<R>>,
    name: &str,
    limits: &ImageLimits,
) -> Result<(Vec<u8>, u32, u32)> {
    let fail =
        |e: &dyn std::fmt::Display| EngineError::Io(format!("cannot read image {name}: {e}"));
    let (w, h) = open()?
        .with_guessed_format()
        .map_err(|e| fail(&e))?
        .into_dimensions()
        .map_err(|e| fail(&e))?;
    limits.check(w, h, name)?;
    let mut reader = open()?.with_guessed_format().map_err(|e| fail(&e))?;
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(w);
    decode_limits.max_image_height = Some(h);
    // The largest buffer: RGBA with 16 bits per channel, plus the default's margin.
    decode_limits.max_alloc =
        Some((u64::from(w) * u64::from(h) * 8).max(decode_limits.max_alloc.unwrap_or(0)));
    reader.limits(decode_limits);
    let img = reader.decode().map_err(|e| fail(&e))?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((rgb.into_raw(), w, h))
}

/// What `exemplar activations` prints: one `{"image", "channel", "activation"}` object
/// per image and channel, images in the given order (under the default [`LoadOptions`]
/// and [`ImageLimits`]).
pub fn activations_json(
    model_path: &Path,
    layer: &str,
    channels: &[usize],
    preprocess: &Preprocess,
    backend: Backend,
    image_paths: &[&Path],
) -> Result<Vec<serde_json::Value>> {
    activations_json_with(
        model_path,
        layer,
        channels,
        preprocess,
        backend,
        image_paths,
        &LoadOptions::default(),
    )
}

/// [`activations_json`] with the model loaded under `options`.
pub fn activations_json_with(
    model_path: &Path,
    layer: &str,
    channels: &[usize],
    preprocess: &Preprocess,
    backend: Backend,
    image_paths: &[&Path],
    options: &LoadOptions,
) -> Result<Vec<serde_json::Value>> {
    let bytes = std::fs::read(model_path)
        .map_err(|e| EngineError::Io(format!("cannot read model {}: {e}", model_path.display())))?;
    let engine = Engine::new_blocking_with(&bytes, layer, backend, options)?;
    let images: Vec<Tensor> = image_paths
        .iter()
        .map(|p| {
            let (rgb, w, h) = decode_image(p)?;
            preprocess
                .apply(&rgb, w, h)
                .map_err(|e| EngineError::Input(format!("{}: {e}", p.display())))
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
