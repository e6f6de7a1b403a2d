//! From an RGB image to the network's input: resize the shorter side, centre crop,
//! normalise. Mirrors torchvision's `Resize(n)`, `CenterCrop(n)`, `ToTensor()`,
//! `Normalize(mean, std)` on PIL images (the same bilinear filter with antialiasing,
//! rounding to 8 bits after each pass as PIL does).

use crate::{EngineError, Result, Tensor};

/// The preprocessing steps; each can be turned off or changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Resize so that the shorter side has this many pixels (`None`: keep the size).
    pub resize: Option<u32>,
    /// Cut the centred square of this side (`None`: keep the whole image).
    pub crop: Option<u32>,
    /// Per-channel mean subtracted from pixel values scaled to 0..1.
    pub mean: [f32; 3],
    /// Per-channel divisor applied after subtracting the mean.
    pub std: [f32; 3],
}

impl Preprocess {
    /// The most pixels a resize may produce (the shorter side to `resize`, the longer in
    /// proportion): an image of an extreme aspect ratio is refused rather than resized to
    /// billions of pixels.
    pub const MAX_RESIZED_PIXELS: u64 = 50_000_000;

    /// torchvision's ImageNet preprocessing: resize 256, crop 224, ImageNet mean and std.
    pub fn imagenet() -> Preprocess {
        Preprocess {
            resize: Some(256),
            crop: Some(224),
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// Lucid's InceptionV1 (GoogLeNet) input: resize 256, crop 224, pixel × 255 − 117.
    pub fn inception() -> Preprocess {
        let m = 117.0 / 255.0;
        let s = 1.0 / 255.0;
        Preprocess {
            resize: Some(256),
            crop: Some(224),
            mean: [m; 3],
            std: [s; 3],
        }
    }

    /// A preset by name: `imagenet` or `inception`.
    pub fn preset(name: &str) -> Result<Preprocess> {
        match name {
            "imagenet" => Ok(Preprocess::imagenet()),
            "inception" => Ok(Preprocess::inception()),
            other => Err(EngineError::Input(format!(
                "unknown preprocessing preset '{other}' (known: imagenet, inception)"
            ))),
        }
    }

    /// Applies the steps to interleaved 8-bit RGB pixels, giving a `[3, H, W]` tensor.
    pub fn apply(&self, rgb: &[u8], width: u32, height: u32) -> Result<Tensor> {
        self.apply_interleaved::<3>(rgb, width, height)
    }

    /// [`Preprocess::apply`] on 8-bit RGBA pixels (a canvas's `ImageData`); alpha is ignored.
    pub fn apply_rgba(&self, rgba: &[u8], width: u32, height: u32) -> Result<Tensor> {
        self.apply_interleaved::<4>(rgba, width, height)
    }

    /// The steps on pixels of `N` interleaved bytes whose first three are R, G and B.
    fn apply_interleaved<const N: usize>(
        &self,
        pixels: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Tensor> {
        let (w, h) = (width as usize, height as usize);
        let need = w.checked_mul(h).and_then(|v| v.checked_mul(N));
        if w == 0 || h == 0 || need != Some(pixels.len()) {
            return Err(EngineError::Input(format!(
                "an {} image of {width}x{height} needs {} bytes, got {}",
                if N == 4 { "RGBA" } else { "RGB" },
                u64::from(width) * u64::from(height) * N as u64,
                pixels.len()
            )));
        }
        let mut planes = vec![vec![0f32; w * h]; 3];
        if let [r, g, b] = planes.as_mut_slice() {
            for (((px, r), g), b) in pixels.chunks_exact(N).zip(r).zip(g).zip(b) {
                (*r, *g, *b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
            }
        }
        let (mut w, mut h) = (w, h);
        if let Some(short) = self.resize.filter(|&s| s > 0) {
            let short = short as usize;
            let (nw, nh) = if w <= h {
                (short, (short as f64 * h as f64 / w as f64) as usize)
            } else {
                ((short as f64 * w as f64 / h as f64) as usize, short)
            };
            let (nw, nh) = (nw.max(1), nh.max(1));
            if (nw as u64).saturating_mul(nh as u64) > Preprocess::MAX_RESIZED_PIXELS {
                return Err(EngineError::Limit(format!(
                    "resizing {width}x{height} pixels to a shorter side of {short} gives {nw}x{nh}, over the limit of {} pixels",
                    Preprocess::MAX_RESIZED_PIXELS
                )));
            }
            if (nw, nh) != (w, h) {
                planes = planes
                    .iter()
                    .map(|p| resize_plane(p, w, h, nw, nh))
                    .collect();
                (w, h) = (nw, nh);
            }
        }
        if let Some(size) = self.crop.filter(|&s| s > 0) {
            if u64::from(size) * u64::from(size) > Preprocess::MAX_RESIZED_PIXELS {
                return Err(EngineError::Limit(format!(
                    "a crop of {size}x{size} is over the limit of {} pixels",
                    Preprocess::MAX_RESIZED_PIXELS
                )));
            }
            let size = size as usize;
            // torchvision: int(round((h - size) / 2)), padding with zeros when too small.
            let top = ((h as f64 - size as f64) / 2.0).round_ties_even() as isize;
            let left = ((w as f64 - size as f64) / 2.0).round_ties_even() as isize;
            planes = planes
                .iter()
                .map(|p| {
                    let mut out = vec![0.0; size * size];
                    for y in 0..size {
                        let sy = y as isize + top;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        for x in 0..size {
                            let sx = x as isize + left;
                            if sx >= 0 && sx < w as isize {
                                out[y * size + x] = p[sy as usize * w + sx as usize];
                            }
                        }
                    }
                    out
                })
                .collect();
            (w, h) = (size, size);
        }
        let mut data = Vec::with_capacity(3 * w * h);
        for (c, p) in planes.iter().enumerate() {
            data.extend(p.iter().map(|&v| (v / 255.0 - self.mean[c]) / self.std[c]));
        }
        Tensor::new(vec![3, h, w], data)
    }
}

/// PIL's coefficients for the bilinear (triangle) filter, widened when downscaling.
fn coefficients(input: usize, output: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = input as f64 / output as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale;
    (0..output)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5) as isize).max(0) as usize;
            let hi = ((center + support + 0.5) as isize).min(input as isize) as usize;
            let mut w: Vec<f64> = (lo..hi)
                .map(|i| {
                    let x = ((i as f64 - center + 0.5) / filterscale).abs();
                    if x < 1.0 {
                        1.0 - x
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = w.iter().sum();
            if total > 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (lo, w.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// One plane resized as PIL does it: the horizontal pass, rounded to 8 bits, then the
/// vertical pass, rounded again.
fn resize_plane(p: &[f32], w: usize, h: usize, nw: usize, nh: usize) -> Vec<f32> {
    let cx = coefficients(w, nw);
    let mut tmp = vec![0.0; nw * h];
    for (src, dst) in p.chunks_exact(w).zip(tmp.chunks_exact_mut(nw)) {
        for (d, (lo, ws)) in dst.iter_mut().zip(&cx) {
            let taps = &src[*lo..*lo + ws.len()];
            *d = round_8bit(ws.iter().zip(taps).map(|(wt, v)| wt * v).sum());
        }
    }
    let cy = coefficients(h, nh);
    let mut out = vec![0.0; nw * nh];
    for (dst, (lo, ws)) in out.chunks_exact_mut(nw).zip(&cy) {
        // A tap's whole row at a time, so that the loop over x is vector code; each output
        // still adds its products in tap order, from the -0.0 that `Iterator::sum` starts at.
        dst.fill(-0.0);
        for (k, wt) in ws.iter().enumerate() {
            let row = &tmp[(lo + k) * nw..][..nw];
            for (d, v) in dst.iter_mut().zip(row) {
                *d += wt * v;
            }
        }
        for d in dst.iter_mut() {
            *d = round_8bit(*d);
        }
    }
    out
}

/// `v.round().clamp(0.0, 255.0)` for the filter's sums, which are never negative (weights
/// and values are not), without a call to libm's `roundf`: on x86-64's baseline it is not
/// inlined, and took 14 % of `exemplar exemplars`' time.
fn round_8bit(v: f32) -> f32 {
    let c = v.clamp(0.0, 255.0);
    // c is in 0..=255: truncation to an integer is exact, and so is the difference.
    let t = c as i32 as f32;
    if c - t >= 0.5 {
        t + 1.0
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resize as it was written first: one output at a time, `roundf`.
    fn reference(p: &[f32], w: usize, h: usize, nw: usize, nh: usize) -> Vec<f32> {
        let round = |v: f32| v.round().clamp(0.0, 255.0);
        let cx = coefficients(w, nw);
        let mut tmp = vec![0.0; nw * h];
        for y in 0..h {
            for (x, (lo, ws)) in cx.iter().enumerate() {
                tmp[y * nw + x] = round(
                    ws.iter()
                        .enumerate()
                        .map(|(k, wt)| wt * p[y * w + lo + k])
                        .sum(),
                );
            }
        }
        let cy = coefficients(h, nh);
        let mut out = vec![0.0; nw * nh];
        for (y, (lo, ws)) in cy.iter().enumerate() {
            for x in 0..nw {
                out[y * nw + x] = round(
                    ws.iter()
                        .enumerate()
                        .map(|(k, wt)| wt * tmp[(lo + k) * nw + x])
                        .sum(),
                );
            }
        }
        out
    }

    #[test]
    fn rounding_is_roundf_then_clamp() {
        let mut values: Vec<f32> = (0..=300 * 64).map(|i| i as f32 / 64.0).collect();
        for i in 0..=256 {
            let half = i as f32 + 0.5;
            values.extend([half, half.next_down(), half.next_up(), i as f32]);
        }
        values.extend([-1.0, -0.5, -3.7, 1e9, f32::MAX]);
        for v in values {
            assert_eq!(
                round_8bit(v).to_bits(),
                v.round().clamp(0.0, 255.0).to_bits(),
                "{v}"
            );
        }
    }

    /// The same bits as the first version, shrinking and enlarging, by whole and odd factors.
    #[test]
    fn resize_gives_the_first_versions_bits() {
        let mut seed = 7u64;
        for (w, h, nw, nh) in [
            (500, 375, 298, 224),
            (333, 500, 256, 384),
            (64, 48, 200, 150),
            (17, 13, 5, 3),
            (1, 9, 4, 2),
        ] {
            let p: Vec<f32> = (0..w * h)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 56) as f32
                })
                .collect();
            let got = resize_plane(&p, w, h, nw, nh);
            let want = reference(&p, w, h, nw, nh);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{w}x{h} to {nw}x{nh}"
            );
        }
    }
}
