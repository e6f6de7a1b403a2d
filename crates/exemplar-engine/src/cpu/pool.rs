//! Pooling on the CPU, NCHW: max pooling over a copy of each plane padded with -inf, eight
//! outputs at a time; average pooling tap by tap over rows of outputs.

use super::im2col::{evens, strided, tap_rows};
use crate::graph::Geom;

/// Max pooling when `avg` is `None`, else average pooling (`Some(count_include_pad)`),
/// NCHW. Average pooling runs, like the depthwise loop in [`super::fast`], over contiguous
/// output rows once per window offset; each output still sees its window in row-major
/// order, as a loop over windows would.
pub(crate) fn pool(x: &[f32], g: &Geom, avg: Option<bool>) -> Vec<f32> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    if avg.is_none() {
        return max_pool(x, g);
    }
    let mut y = vec![0.0; g.n * g.c * ohw];
    if ohw == 0 || hw == 0 {
        return y;
    }
    for (src, dst) in x.chunks_exact(hw).zip(y.chunks_exact_mut(ohw)) {
        tap_rows(g, |_, outs, at| {
            strided(&mut dst[outs], &src[at..], g.sw, |d, s| *d += s)
        });
    }
    let Some(include_pad) = avg else { return y };
    // Per output row and column: the window's taps inside the image, and inside the padded
    // extent (the ceil_mode overhang is not counted).
    let taps =
        |out: usize, len: usize, k: usize, s: usize, d: usize, pad: usize, pad_end: usize| {
            (0..out)
                .map(|o| {
                    let (mut inside, mut padded) = (0usize, 0usize);
                    for t in 0..k {
                        let i = o * s + t * d;
                        inside += usize::from(i >= pad && i < len + pad);
                        padded += usize::from(i < len + pad + pad_end);
                    }
                    (inside, padded)
                })
                .collect::<Vec<_>>()
        };
    let rows = taps(g.oh, g.h, g.kh, g.sh, g.dh, g.pt, g.pb);
    let cols = taps(g.ow, g.w, g.kw, g.sw, g.dw, g.pl, g.pr);
    for plane in y.chunks_exact_mut(ohw) {
        for (line, &(ry, py)) in plane.chunks_exact_mut(g.ow).zip(&rows) {
            for (v, &(rx, px)) in line.iter_mut().zip(&cols) {
                let count = if include_pad { py * px } else { ry * rx };
                *v /= count.max(1) as f32;
            }
        }
    }
    y
}

/// Max pooling, NCHW. Each plane is first copied into one padded with -inf, wide enough
/// for whole blocks of 8 outputs: a tap there changes no maximum, so every output is the
/// maximum over its whole window, in the window's row-major order (the bits of a loop
/// over windows), 8 outputs at a time in vectors and without bounds arithmetic. Tap by
/// tap over rows of outputs instead, most of the time went to each short row's setup
/// (GoogLeNet's pools, in the browser, were a seventh of its time).
fn max_pool(x: &[f32], g: &Geom) -> Vec<f32> {
    const B: usize = 8;
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let mut y = super::output_buffer(g.n * g.c * ohw);
    if ohw == 0 || hw == 0 {
        // No input value in any window (an empty input under padding): every output is
        // the empty maximum, as the loop over windows gives.
        y.fill(f32::NEG_INFINITY);
        return y;
    }
    // The padded plane: every tap of every block of outputs, the last block's past `ow`
    // included, reads inside it (stride 2 reads 2B values a tap).
    let blocks = g.ow.div_ceil(B);
    let pw = (blocks * B + 1) * g.sw + (g.kw - 1) * g.dw;
    let ph = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    let mut padded = super::output_buffer(ph * pw);
    padded.fill(f32::NEG_INFINITY);
    for (src, dst) in x.chunks_exact(hw.max(1)).zip(y.chunks_exact_mut(ohw)) {
        for (iy, row) in src.chunks_exact(g.w.max(1)).enumerate().take(g.h) {
            // Rows and columns past what any window reads stay out.
            let py = iy + g.pt;
            if py < ph && g.pl < pw {
                let cols = g.w.min(pw - g.pl);
                padded[py * pw + g.pl..][..cols].copy_from_slice(&row[..cols]);
            }
        }
        for (oy, out) in dst.chunks_exact_mut(g.ow).enumerate() {
            for (b, out) in out.chunks_mut(B).enumerate() {
                let mut acc = [f32::NEG_INFINITY; B];
                for ky in 0..g.kh {
                    let row = &padded[(oy * g.sh + ky * g.dh) * pw..][..pw];
                    for kx in 0..g.kw {
                        let at = b * B * g.sw + kx * g.dw;
                        let v: [f32; B] = match g.sw {
                            1 => row[at..at + B].try_into().expect("B values"),
                            2 => {
                                let mut v = [0f32; B];
                                evens(&mut v, row[at..at + 2 * B].try_into().expect("2B values"));
                                v
                            }
                            sw => std::array::from_fn(|i| row[at + i * sw]),
                        };
                        max8(&mut acc, &v);
                    }
                }
                out.copy_from_slice(&acc[..out.len()]);
            }
        }
    }
    super::spare(padded);
    y
}

/// `acc[i] = max(acc[i], v[i])` ([`super::max`]: a NaN in `v` is ignored); in wasm in two
/// vectors (the compiler left the loop scalar).
#[inline(always)]
fn max8(acc: &mut [f32; 8], v: &[f32; 8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{
            f32x4_gt, f32x4_ne, v128, v128_bitselect, v128_load, v128_or, v128_store,
        };
        // SAFETY: loads and stores of 4 values inside `acc` and `v`; wasm's loads and
        // stores allow any alignment.
        unsafe {
            for half in 0..2 {
                let a = acc.as_mut_ptr().cast::<v128>().add(half);
                let (x, y) = (v128_load(a), v128_load(v.as_ptr().cast::<v128>().add(half)));
                // x where x > y or y is NaN, else y: super::max lane by lane.
                let keep = v128_or(f32x4_gt(x, y), f32x4_ne(y, y));
                v128_store(a, v128_bitselect(x, y, keep));
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (a, &v) in acc.iter_mut().zip(v) {
        *a = super::max(*a, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fast::tests::{geom, values};

    /// The loop over windows that [`pool`] replaced.
    fn naive_pool(x: &[f32], g: &Geom, avg: Option<bool>) -> Vec<f32> {
        let mut y = Vec::new();
        let (h, w) = (g.h as isize, g.w as isize);
        for nc in 0..g.n * g.c {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut acc = if avg.is_some() {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    };
                    let (mut count, mut padded) = (0usize, 0usize);
                    for ky in 0..g.kh {
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                        for kx in 0..g.kw {
                            let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                            if iy < h + g.pb as isize && ix < w + g.pr as isize {
                                padded += 1;
                            }
                            if iy < 0 || iy >= h || ix < 0 || ix >= w {
                                continue;
                            }
                            let v = x[(nc * g.h + iy as usize) * g.w + ix as usize];
                            count += 1;
                            acc = if avg.is_some() { acc + v } else { acc.max(v) };
                        }
                    }
                    y.push(match avg {
                        None => acc,
                        Some(true) => acc / padded.max(1) as f32,
                        Some(false) => acc / count.max(1) as f32,
                    });
                }
            }
        }
        y
    }

    /// Pooling gives the bits of the loop over windows, with padding, strides, dilation,
    /// and an output column past the padded extent (ceil_mode's overhang).
    #[test]
    fn pool_matches_the_naive_loop() {
        let mut cases = vec![
            geom([2, 3, 9, 11], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            geom([1, 2, 10, 10], [3, 3], [2, 2], [1, 1], [0, 0, 0, 0]),
            geom([1, 2, 12, 13], [2, 3], [2, 3], [2, 1], [1, 0, 2, 1]),
            geom([1, 1, 7, 7], [7, 7], [1, 1], [1, 1], [0, 0, 0, 0]),
            // Rows of several blocks of outputs, and a last block cut short.
            geom([1, 3, 41, 37], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            geom([1, 2, 17, 30], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            geom([1, 2, 20, 50], [2, 3], [1, 3], [1, 2], [0, 1, 0, 2]),
            // An empty input under padding: outputs whose windows hold no value.
            geom([1, 2, 0, 0], [1, 1], [1, 1], [1, 1], [1, 1, 1, 1]),
        ];
        let mut overhang = geom([1, 2, 8, 8], [3, 3], [2, 2], [1, 1], [0, 0, 0, 0]);
        overhang.oh += 1;
        overhang.ow += 1;
        cases.push(overhang);
        for (i, g) in cases.iter().enumerate() {
            let mut x = values(i as u64, g.n * g.c * g.h * g.w);
            if let Some(v) = x.get_mut(3) {
                *v = f32::NAN;
            }
            for avg in [None, Some(false), Some(true)] {
                // The output's memory may be a dead tensor's: every value is written over.
                crate::cpu::spare(vec![f32::NAN; g.n * g.c * g.oh * g.ow]);
                let (got, want) = (pool(&x, g, avg), naive_pool(&x, g, avg));
                assert_eq!(got.len(), want.len());
                for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        a.to_bits() == b.to_bits(),
                        "case {i} {avg:?} [{j}]: {a} vs {b}"
                    );
                }
            }
        }
    }
}
