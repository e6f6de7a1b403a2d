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
        // The size after resizing (still `w × h` without it).
        let (mut nw, mut nh) = (w, h);
        if let Some(short) = self.resize.filter(|&s| s > 0) {
            let short = short as usize;
            let (rw, rh) = if w <= h {
                (short, (short as f64 * h as f64 / w as f64) as usize)
            } else {
                ((short as f64 * w as f64 / h as f64) as usize, short)
            };
            (nw, nh) = (rw.max(1), rh.max(1));
            if (nw as u64).saturating_mul(nh as u64) > Preprocess::MAX_RESIZED_PIXELS {
                return Err(EngineError::Limit(format!(
                    "resizing {width}x{height} pixels to a shorter side of {short} gives {nw}x{nh}, over the limit of {} pixels",
                    Preprocess::MAX_RESIZED_PIXELS
                )));
            }
        }
        // The output, `ow × oh`, is the resized image's window at (`left`, `top`), padded
        // with zeros where it reaches past it: the crop, or the whole image.
        let (ow, oh, top, left) = match self.crop.filter(|&s| s > 0) {
            Some(size) => {
                if u64::from(size) * u64::from(size) > Preprocess::MAX_RESIZED_PIXELS {
                    return Err(EngineError::Limit(format!(
                        "a crop of {size}x{size} is over the limit of {} pixels",
                        Preprocess::MAX_RESIZED_PIXELS
                    )));
                }
                let size = size as usize;
                // torchvision: int(round((h - size) / 2)), padding with zeros when too small.
                let top = ((nh as f64 - size as f64) / 2.0).round_ties_even() as isize;
                let left = ((nw as f64 - size as f64) / 2.0).round_ties_even() as isize;
                (size, size, top, left)
            }
            None => (nw, nh, 0, 0),
        };
        // The resized image's rows and columns the output keeps: only those are computed.
        let keep = |at: isize, len: usize, of: usize| {
            let lo = at.clamp(0, of as isize) as usize;
            lo..(at + len as isize).clamp(0, of as isize) as usize
        };
        let (xs, ys) = (keep(left, ow, nw), keep(top, oh, nh));
        // The filter's taps, the same for the three channels.
        let taps = ((nw, nh) != (w, h)).then(|| (coefficients(w, nw), coefficients(h, nh)));
        let regions: [Vec<f32>; 3] = match &taps {
            Some((cx, cy)) => resize_region(pixels, N, w, (cx, cy), xs.clone(), ys.clone()),
            None => std::array::from_fn(|c| {
                ys.clone()
                    .flat_map(|y| xs.clone().map(move |x| y * w + x))
                    .map(|i| f32::from(pixels[i * N + c]))
                    .collect()
            }),
        };
        let mut data = vec![0f32; 3 * oh * ow];
        for (c, (plane, region)) in data.chunks_exact_mut(oh * ow).zip(regions).enumerate() {
            if !xs.is_empty() {
                let (y0, x0) = (
                    (ys.start as isize - top) as usize,
                    (xs.start as isize - left) as usize,
                );
                for (k, row) in region.chunks_exact(xs.len()).enumerate() {
                    plane[(y0 + k) * ow + x0..][..xs.len()].copy_from_slice(row);
                }
            }
            plane
                .iter_mut()
                .for_each(|v| *v = (*v / 255.0 - self.mean[c]) / self.std[c]);
        }
        Tensor::new(vec![3, oh, ow], data)
    }
}

/// An output's first input and the weights of it and the next ones.
type Taps = (usize, Vec<f32>);

/// PIL's coefficients for the bilinear (triangle) filter, widened when downscaling.
fn coefficients(input: usize, output: usize) -> Vec<Taps> {
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

/// The first `C` channels of interleaved 8-bit pixels (`n` bytes each, rows of `w`)
/// resized by the taps `cx` and `cy` ([`coefficients`] along each axis) as PIL does it
/// (the horizontal pass, rounded to 8 bits, then the vertical pass, rounded again),
/// computed only at the resized image's columns `xs` and rows `ys`: each channel's values
/// there, row by row. Each is the same sum of the same products, in the same order, as
/// where the whole image is resized: a crop keeps about half of a 256-pixel resize's
/// values. The horizontal pass reads a pixel's channels together and rounds a row at a
/// time (vector code); it had been three quarters of the preprocessing's time.
fn resize_region<const C: usize>(
    px: &[u8],
    n: usize,
    w: usize,
    (cx, cy): (&[Taps], &[Taps]),
    xs: std::ops::Range<usize>,
    ys: std::ops::Range<usize>,
) -> [Vec<f32>; C] {
    let cols = xs.len();
    // The input rows the vertical pass reads for rows `ys`.
    let rows = match (
        cy.get(ys.start),
        ys.end.checked_sub(1).and_then(|y| cy.get(y)),
    ) {
        (Some(first), Some(last)) => first.0..last.0 + last.1.len(),
        _ => 0..0,
    };
    let mut tmp: [Vec<f32>; C] = std::array::from_fn(|_| vec![0.0; cols * rows.len()]);
    for (r, y) in rows.clone().enumerate() {
        let src = &px[y * w * n..][..w * n];
        for (x, (lo, ws)) in cx[xs.clone()].iter().enumerate() {
            // From the -0.0 that `Iterator::sum` starts at, in tap order.
            let mut acc = [-0.0f32; C];
            for (k, wt) in ws.iter().enumerate() {
                let p = &src[(lo + k) * n..][..C];
                for (a, &v) in acc.iter_mut().zip(p) {
                    *a += wt * f32::from(v);
                }
            }
            for (t, a) in tmp.iter_mut().zip(acc) {
                t[r * cols + x] = a;
            }
        }
        for t in &mut tmp {
            t[r * cols..][..cols]
                .iter_mut()
                .for_each(|d| *d = round_8bit(*d));
        }
    }
    tmp.map(|tmp| {
        let mut out = vec![0.0; cols * ys.len()];
        for (dst, (lo, ws)) in out.chunks_exact_mut(cols.max(1)).zip(&cy[ys.clone()]) {
            // A tap's whole row at a time, so that the loop over x is vector code; each
            // output still adds its products in tap order, from -0.0.
            dst.fill(-0.0);
            for (k, wt) in ws.iter().enumerate() {
                let row = &tmp[(lo + k - rows.start) * cols..][..cols];
                for (d, v) in dst.iter_mut().zip(row) {
                    *d += wt * v;
                }
            }
            for d in dst.iter_mut() {
                *d = round_8bit(*d);
            }
        }
        out
    })
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

    /// Seeded 8-bit values.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    /// The same bits as the first version, shrinking and enlarging, by whole and odd
    /// factors, for the whole image and for windows of it (a crop's), from interleaved
    /// pixels of 1, 3 and 4 bytes.
    #[test]
    fn resize_gives_the_first_versions_bits() {
        for (i, (w, h, nw, nh)) in [
            (500, 375, 298, 224),
            (333, 500, 256, 384),
            (64, 48, 200, 150),
            (17, 13, 5, 3),
            (1, 9, 4, 2),
        ]
        .into_iter()
        .enumerate()
        {
            for n in [1, 3, 4] {
                let px = bytes(i as u64, w * h * n);
                let taps = (&coefficients(w, nw)[..], &coefficients(h, nh)[..]);
                let region = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| match n {
                    1 => resize_region::<1>(&px, n, w, taps, xs, ys).to_vec(),
                    _ => resize_region::<3>(&px, n, w, taps, xs, ys).to_vec(),
                };
                let whole = region(0..nw, 0..nh);
                for (c, whole) in whole.iter().enumerate() {
                    let plane: Vec<f32> = px.chunks_exact(n).map(|p| f32::from(p[c])).collect();
                    let want = reference(&plane, w, h, nw, nh);
                    assert!(
                        whole
                            .iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{w}x{h} to {nw}x{nh}, {n} bytes, channel {c}"
                    );
                    for (xs, ys) in [
                        (nw / 4..nw - nw / 4, nh / 3..nh - nh / 5),
                        (0..1, nh - 1..nh),
                        (nw - 1..nw, 0..nh),
                        (1..1, 0..nh),
                    ] {
                        let got = &region(xs.clone(), ys.clone())[c];
                        let cut: Vec<f32> = ys
                            .clone()
                            .flat_map(|y| want[y * nw..][xs.clone()].to_vec())
                            .collect();
                        assert!(
                            got.len() == cut.len()
                                && got.iter().zip(&cut).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{w}x{h} to {nw}x{nh}, {n} bytes, channel {c}, columns {xs:?}, rows {ys:?}"
                        );
                    }
                }
            }
        }
    }

    /// `apply` gives what resizing every plane whole, then cropping (zeros past the image)
    /// and normalising gives: with and without a resize or a crop, crops larger than the
    /// image on one side or both, odd margins.
    #[test]
    fn only_what_the_crop_keeps_is_resized_with_the_same_bits() {
        let steps = |resize: Option<u32>, crop: Option<u32>| Preprocess {
            resize,
            crop,
            ..Preprocess::imagenet()
        };
        let cases = [
            (500, 375, steps(Some(256), Some(224))),
            (375, 500, steps(Some(256), Some(224))),
            (333, 257, steps(Some(256), Some(224))),
            (40, 30, steps(Some(16), Some(20))),
            (40, 30, steps(Some(32), Some(50))),
            (31, 20, steps(None, Some(11))),
            (9, 30, steps(None, Some(16))),
            (64, 48, steps(Some(100), None)),
            (7, 5, steps(None, None)),
        ];
        for (i, (w, h, pre)) in cases.into_iter().enumerate() {
            let px = bytes(100 + i as u64, w * h * 3);
            let got = pre.apply(&px, w as u32, h as u32).expect("an image");
            // The whole pipeline as it was first written.
            let mut planes: Vec<Vec<f32>> = (0..3)
                .map(|c| px.chunks_exact(3).map(|p| f32::from(p[c])).collect())
                .collect();
            let (mut cw, mut ch) = (w, h);
            if let Some(short) = pre.resize {
                let short = short as usize;
                let (nw, nh) = if w <= h {
                    (short, (short as f64 * h as f64 / w as f64) as usize)
                } else {
                    ((short as f64 * w as f64 / h as f64) as usize, short)
                };
                planes = planes.iter().map(|p| reference(p, w, h, nw, nh)).collect();
                (cw, ch) = (nw, nh);
            }
            if let Some(size) = pre.crop {
                let size = size as usize;
                let top = ((ch as f64 - size as f64) / 2.0).round_ties_even() as isize;
                let left = ((cw as f64 - size as f64) / 2.0).round_ties_even() as isize;
                planes = planes
                    .iter()
                    .map(|p| {
                        let mut out = vec![0.0; size * size];
                        for y in 0..size as isize {
                            for x in 0..size as isize {
                                let (sy, sx) = (y + top, x + left);
                                if (0..ch as isize).contains(&sy) && (0..cw as isize).contains(&sx)
                                {
                                    out[(y * size as isize + x) as usize] =
                                        p[sy as usize * cw + sx as usize];
                                }
                            }
                        }
                        out
                    })
                    .collect();
                (cw, ch) = (size, size);
            }
            let want: Vec<f32> = planes
                .iter()
                .enumerate()
                .flat_map(|(c, p)| {
                    p.iter()
                        .map(move |&v| (v / 255.0 - pre.mean[c]) / pre.std[c])
                })
                .collect();
            assert_eq!(got.shape, vec![3, ch, cw], "case {i}");
            assert!(
                got.data
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "case {i}: {w}x{h} {pre:?}"
            );
        }
    }
}
