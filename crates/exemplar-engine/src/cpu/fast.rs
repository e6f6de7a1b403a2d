//! The convolution on the CPU, on top of [`super::gemm`]'s matrix product: im2col
//! ([`super::im2col`]) into a reused scratch buffer; 1×1 stride-1 convolutions read the
//! input directly; one input channel per group, as in depthwise convolutions, runs
//! directly on the image.

use super::gemm::{cpu_threads, gemm, Kernel, Lhs, Mat, Packed, Rhs, Start, WORK_PER_THREAD};
use std::cell::RefCell;

use super::im2col::{
    im2col_matrix, im2col_panels, pad_plane, padded, padded_extent, strided, tap_rows,
};
use crate::graph::Geom;

/// At most this many values of im2col scratch; larger images go in chunks of output rows.
/// Natively 16 MiB: each chunk is one product split over the cores, and smaller ones made
/// ResNet-50 on two threads 15 % slower (`cargo bench -p exemplar-engine --bench engine`).
/// In wasm (one thread) 256 KiB: a chunk stays in L2 while the product reads it, where a
/// whole image's (7 MiB for a 7×7 first layer) goes out to memory and back; the CPU
/// fallback took 8 % less time in V8 for 1 MiB, and a few percent less again for 256 KiB
/// once im2col wrote the product's panels itself.
#[cfg(not(target_arch = "wasm32"))]
const SCRATCH: usize = 1 << 22;
#[cfg(target_arch = "wasm32")]
const SCRATCH: usize = 1 << 16;

/// Output positions `o < out` whose input index `o * stride + offset - pad` lies in
/// `0..len`, as a range.
pub(super) fn valid(
    out: usize,
    len: usize,
    stride: usize,
    offset: usize,
    pad: usize,
) -> (usize, usize) {
    // o * stride + offset >= pad
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    // o * stride + offset < len + pad
    let hi = (len + pad).saturating_sub(offset).div_ceil(stride);
    (lo.min(out), hi.clamp(lo.min(out), out))
}

/// How a convolution's im2col matrix reaches the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Im2col {
    /// Written as a plain matrix, which the product packs block by block.
    Matrix,
    /// Written as the product's packed panels ([`Rhs::Panels`]).
    Panels,
}

/// In wasm the panels: packing the matrix again had been a tenth of the browser's CPU
/// fallback's time, and its 256 KiB chunks stay in L2 for the product. Natively the
/// matrix: its chunks are 16 MiB (split over the cores), the product's packed block of B
/// is what stays in L2, and GoogLeNet took 10 to 15 % longer with panels (`cargo bench -p
/// exemplar-engine --bench engine`).
const IM2COL: Im2col = if cfg!(target_arch = "wasm32") {
    Im2col::Panels
} else {
    Im2col::Matrix
};

/// 2-D convolution, NCHW: `x` is `[n, c, h, w]`, `w` `[m, c / group, kh, kw]`, the result
/// `[n, m, oh, ow]`.
pub(crate) fn conv(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &Geom,
    group: usize,
    m: usize,
    packed: Option<&[Packed]>,
) -> Vec<f32> {
    conv_with(x, w, bias, g, group, m, packed, IM2COL)
}

/// [`conv`] with its im2col matrix written as `im2col` says.
#[allow(clippy::too_many_arguments)]
fn conv_with(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &Geom,
    group: usize,
    m: usize,
    packed: Option<&[Packed]>,
    im2col: Im2col,
) -> Vec<f32> {
    let cpg = g.c / group;
    let mpg = m / group;
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let kk = cpg * g.kh * g.kw;
    // Every output is written once, by a kernel that starts it at its bias.
    let mut y = super::output_buffer(g.n * m * ohw);
    if ohw == 0 {
        return y;
    }
    let bias: Vec<f32> = (0..m)
        .map(|o| bias.get(o).copied().unwrap_or(0.0))
        .collect();
    if cpg == 1 {
        // One input channel per group (depthwise): every output plane from its one input
        // plane, the planes split over the cores (each plane's values do not depend on the
        // split). They had run on one core: a quarter of EfficientNet-Lite0's activation
        // pass. (Where decoding keeps every core busy, as in `exemplar exemplars` on two
        // cores, it gains nothing.)
        let planes = g.n * m;
        let work = planes * ohw * kk;
        on_cores(&mut y, ohw, work, |first, out| {
            for (i, yo) in out.chunks_exact_mut(ohw).enumerate() {
                let (n, o) = ((first + i) / m, (first + i) % m);
                let ci = o / mpg;
                let x = &x[(n * g.c + ci) * hw..][..hw];
                direct(x, &w[o * kk..][..kk], bias[o], yo, g);
            }
        });
        return y;
    }
    let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1;
    let pointwise = pointwise && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w;
    // Output rows per im2col chunk.
    let rows = (SCRATCH / (kk * g.ow).max(1)).clamp(1, g.oh);
    // Panels are as wide as the tile of the kernel the product runs: the packed weights'
    // one, else this machine's.
    let kernel = match packed {
        Some(p) => p.first().map_or(Kernel::best(), Packed::kernel),
        None => Kernel::best(),
    };
    // Windows far past the image: no padded copy (see `padded_extent`).
    let im2col = match im2col {
        Im2col::Panels if padded_extent(g).is_none() => Im2col::Matrix,
        way => way,
    };
    let nr = match im2col {
        Im2col::Panels => kernel.tile_cols(),
        Im2col::Matrix => 1,
    };
    let mut scratch = if pointwise {
        Vec::new()
    } else {
        // Every value a product reads is written by im2col first.
        super::output_buffer(kk * (rows * g.ow).div_ceil(nr) * nr)
    };
    // The zero-padded input planes of a group, for im2col in panels.
    let mut pad = Vec::new();
    for n in 0..g.n {
        for gi in 0..group {
            let xg = &x[(n * g.c + gi * cpg) * hw..][..cpg * hw];
            let xp = match im2col {
                Im2col::Panels if !pointwise => padded(xg, g, cpg, &mut pad),
                _ => None,
            };
            let yg = &mut y[(n * m + gi * mpg) * ohw..][..mpg * ohw];
            let bg = &bias[gi * mpg..][..mpg];
            let a = match packed {
                Some(p) => Lhs::Packed(&p[gi], 0),
                None => Lhs::Mat(group_weights(w, gi, mpg, kk)),
            };
            if pointwise {
                let b = Mat {
                    data: xg,
                    rs: hw,
                    cs: 1,
                };
                gemm(mpg, ohw, kk, a, Rhs::Mat(b), yg, ohw, Start::Bias(bg));
            } else {
                for oy0 in (0..g.oh).step_by(rows) {
                    let chunk_rows = rows.min(g.oh - oy0);
                    let cols = chunk_rows * g.ow;
                    let data = &mut scratch[..kk * cols.div_ceil(nr) * nr];
                    let b = match im2col {
                        Im2col::Panels => {
                            let xp = xp.as_ref().expect("padded for panels");
                            im2col_panels(xp, g, cpg, oy0, chunk_rows, nr, data);
                            Rhs::Panels { data, nr }
                        }
                        Im2col::Matrix => {
                            im2col_matrix(xg, g, cpg, oy0, chunk_rows, data);
                            Rhs::Mat(Mat {
                                data,
                                rs: cols,
                                cs: 1,
                            })
                        }
                    };
                    let yc = &mut yg[oy0 * g.ow..];
                    gemm(mpg, cols, kk, a, b, yc, ohw, Start::Bias(bg));
                }
            }
        }
    }
    super::spare(scratch);
    y
}

/// A convolution's weights (`[m, c / group, kh, kw]`) packed for [`conv`], one matrix per
/// group; `None` where `conv` takes no product (one input channel per group) or packing
/// would pad the weights by more than a quarter.
pub(crate) fn pack_weights(w: &[f32], shape: &[usize], group: usize) -> Option<Vec<Packed>> {
    let [m, cpg, kh, kw] = *shape else {
        return None;
    };
    let (mpg, kk) = (m / group.max(1), cpg * kh * kw);
    // Packing rounds each group's rows up to whole tiles: where that would add more than a
    // quarter (few outputs per group), the weights are packed at each product instead, so
    // a model's packed copy stays within 1.25 times its weights.
    let padded = Packed::padded_rows(mpg) > mpg + mpg / 4;
    if cpg == 1 || padded || mpg * kk * group != w.len() {
        return None;
    }
    Some(pack_groups(w, group, mpg, kk))
}

/// Each group's weights packed, without [`pack_weights`]'s checks.
fn pack_groups(w: &[f32], group: usize, mpg: usize, kk: usize) -> Vec<Packed> {
    (0..group)
        .map(|gi| Packed::new(mpg, kk, group_weights(w, gi, mpg, kk)))
        .collect()
}

/// Group `gi`'s weights as the product's left operand: `mpg` rows of `kk`.
fn group_weights(w: &[f32], gi: usize, mpg: usize, kk: usize) -> Mat<'_> {
    Mat {
        data: &w[gi * mpg * kk..][..mpg * kk],
        rs: kk,
        cs: 1,
    }
}

/// `each(first, part)` over `out` cut into parts of whole planes of `plane` values (`first`:
/// the index of a part's first plane), on as many of [`cpu_threads`] threads as `work`
/// multiply-adds in all keep busy; one part on one thread in wasm.
fn on_cores(out: &mut [f32], plane: usize, work: usize, each: impl Fn(usize, &mut [f32]) + Sync) {
    let planes = out.len() / plane.max(1);
    let parts = cpu_threads().min(work / WORK_PER_THREAD).min(planes).max(1);
    if parts == 1 || cfg!(target_arch = "wasm32") {
        return each(0, out);
    }
    let per = planes.div_ceil(parts);
    let each = &each;
    std::thread::scope(|s| {
        let mut parts = out.chunks_mut(per * plane).enumerate();
        // The first part runs on the calling thread, after the others are started.
        let first = parts.next();
        for (k, part) in parts {
            s.spawn(move || each(k * per, part));
        }
        if let Some((_, part)) = first {
            each(0, part);
        }
    });
}

/// One output plane from one input plane (a channel of a depthwise convolution), starting
/// at `bias` (`y`'s values are overwritten). Compiled for the widest vectors this machine
/// has (the kernel [`gemm`](super::gemm) picked): each output is the same sum of the same
/// products in the same order (no fused multiply-add), so every build gives the same bits.
fn direct(x: &[f32], w: &[f32], bias: f32, y: &mut [f32], g: &Geom) {
    thread_local! {
        /// The padded plane of [`direct_body`], kept for the thread's next plane.
        static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    PADDED.with_borrow_mut(|buf| match Kernel::best() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY (both arms): `Kernel::best` picks these only where the processor reports
        // the features they are compiled for.
        Kernel::Avx512 => unsafe { direct_avx512(x, w, bias, y, g, buf) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { direct_avx2(x, w, bias, y, g, buf) },
        Kernel::Portable => direct_body(x, w, bias, y, g, buf),
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn direct_avx512(x: &[f32], w: &[f32], bias: f32, y: &mut [f32], g: &Geom, buf: &mut Vec<f32>) {
    direct_body(x, w, bias, y, g, buf)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn direct_avx2(x: &[f32], w: &[f32], bias: f32, y: &mut [f32], g: &Geom, buf: &mut Vec<f32>) {
    direct_body(x, w, bias, y, g, buf)
}

/// `acc[l] += w · at[off + l]` for every tap `(off, w)`, in order.
#[inline(always)]
fn window(acc: &mut [f32; BLOCK], at: &[f32], taps: &[(usize, f32)]) {
    for &(off, wv) in taps {
        let v: &[f32; BLOCK] = at[off..off + BLOCK].try_into().expect("a block");
        for l in 0..BLOCK {
            acc[l] += wv * v[l];
        }
    }
}

/// Outputs a block of [`direct_body`] holds in registers: one AVX-512 vector, two AVX2
/// ones, four of SSE or wasm.
const BLOCK: usize = 16;

/// [`direct`] on a zero-padded copy of the plane in `buf`, each padded row stored as its
/// `sw` phases (columns `k, k + sw, k + 2 sw, …` for `k < sw`), so that every tap of a block
/// of consecutive outputs reads consecutive values at any stride. Each block of
/// [`BLOCK`] outputs of a row is summed over the whole window in registers and stored
/// once, with nothing to work out per row: padding adds `w · 0`. (The loop it replaced
/// made one pass over the output plane per tap, loading and storing every output `kh ×
/// kw` times; blocks held across taps there lost to its per-row bounds arithmetic.)
#[inline(always)]
fn direct_body(x: &[f32], w: &[f32], bias: f32, y: &mut [f32], g: &Geom, buf: &mut Vec<f32>) {
    if g.oh == 0 || g.ow == 0 {
        return;
    }
    let Some((hp, wp)) = padded_extent(g) else {
        return direct_taps(x, w, bias, y, g);
    };
    let s = g.sw;
    let len = wp.div_ceil(s);
    let pitch = s * len;
    // The last block of a row reads up to BLOCK values past the row's last output.
    buf.resize(hp * pitch + BLOCK, 0.0);
    buf.truncate(hp * pitch + BLOCK);
    let (rows, slack) = buf.split_at_mut(hp * pitch);
    slack.fill(0.0);
    pad_plane(x, g, (hp, wp), s, rows);
    // Each tap's offset from its output row's block in the padded plane, and its weight.
    let taps: Vec<(usize, f32)> = (0..g.kh * g.kw)
        .map(|t| {
            let (ky, kx) = (t / g.kw, t % g.kw);
            let col = kx * g.dw;
            (ky * g.dh * pitch + col % s * len + col / s, w[t])
        })
        .collect();
    for (oy, out) in y.chunks_exact_mut(g.ow).take(g.oh).enumerate() {
        let row = &buf[oy * g.sh * pitch..];
        for (b, out) in out.chunks_mut(BLOCK).enumerate() {
            let mut acc = [bias; BLOCK];
            window(&mut acc, &row[b * BLOCK..], &taps);
            out.copy_from_slice(&acc[..out.len()]);
        }
    }
}

/// [`direct_body`] for windows far past the image ([`padded_extent`]): one pass over the
/// outputs per tap, over the outputs whose tap lies inside the image.
#[inline(always)]
fn direct_taps(x: &[f32], w: &[f32], bias: f32, y: &mut [f32], g: &Geom) {
    y.fill(bias);
    tap_rows(g, |t, outs, at| {
        strided(&mut y[outs], &x[at..], g.sw, |d, v| *d += w[t] * v)
    });
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Seeded values in [-1, 1) (SplitMix64).
    pub(crate) fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The seven-deep loop the fast kernels replaced, in f64.
    fn naive_conv(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        g: &Geom,
        group: usize,
        m: usize,
    ) -> Vec<f32> {
        let (cpg, mpg) = (g.c / group, m / group);
        let mut y = vec![0f32; g.n * m * g.oh * g.ow];
        for n in 0..g.n {
            for o in 0..m {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = f64::from(bias[o]);
                        for ci in 0..cpg {
                            let c = o / mpg * cpg + ci;
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                                    let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xv =
                                        x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                                    let wv = w[((o * cpg + ci) * g.kh + ky) * g.kw + kx];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        y[((n * m + o) * g.oh + oy) * g.ow + ox] = acc as f32;
                    }
                }
            }
        }
        y
    }

    pub(crate) fn close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs() + 1e-4,
                "{what}: [{i}] {a} vs {b}"
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn geom(
        [n, c, h, w]: [usize; 4],
        [kh, kw]: [usize; 2],
        [sh, sw]: [usize; 2],
        [dh, dw]: [usize; 2],
        [pt, pl, pb, pr]: [usize; 4],
    ) -> Geom {
        let oh = (h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
        let ow = (w + pl + pr - (kw - 1) * dw - 1) / sw + 1;
        Geom {
            n,
            c,
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            pt,
            pl,
            pb,
            pr,
        }
    }

    #[test]
    fn conv_matches_the_naive_loop() {
        // (what, input, kernel, stride, dilation, pads, group, output channels)
        let cases = [
            (
                "3x3 pad 1",
                [1, 3, 7, 7],
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
                5,
            ),
            (
                "1x1 (pointwise GEMM)",
                [2, 19, 5, 9],
                [1, 1],
                [1, 1],
                [1, 1],
                [0; 4],
                1,
                13,
            ),
            (
                "1x1 with bottom pads",
                [1, 4, 5, 5],
                [1, 1],
                [1, 1],
                [1, 1],
                [0, 0, 1, 2],
                1,
                3,
            ),
            (
                "1x1 stride 2",
                [1, 6, 9, 8],
                [1, 1],
                [2, 2],
                [1, 1],
                [0; 4],
                1,
                7,
            ),
            (
                "depthwise stride 2",
                [2, 8, 9, 9],
                [3, 3],
                [2, 2],
                [1, 1],
                [1, 1, 1, 1],
                8,
                8,
            ),
            (
                "depthwise stride 2, even width, SAME pads",
                [1, 4, 10, 12],
                [3, 3],
                [2, 2],
                [1, 1],
                [0, 0, 1, 1],
                4,
                4,
            ),
            (
                "depthwise stride 3",
                [1, 2, 11, 13],
                [3, 3],
                [3, 3],
                [1, 1],
                [1, 1, 1, 1],
                2,
                2,
            ),
            (
                "depthwise 5x5 multiplier 2",
                [1, 3, 11, 10],
                [5, 5],
                [1, 1],
                [1, 1],
                [2, 2, 2, 2],
                3,
                6,
            ),
            (
                "dilation 2",
                [1, 3, 13, 10],
                [3, 3],
                [1, 1],
                [2, 2],
                [2, 2, 2, 2],
                1,
                4,
            ),
            (
                "groups 2",
                [1, 6, 8, 8],
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                2,
                4,
            ),
            (
                "groups 3, one output each",
                [1, 6, 6, 7],
                [3, 3],
                [1, 1],
                [1, 1],
                [0; 4],
                3,
                3,
            ),
            (
                "7x7 stride 2 asymmetric",
                [1, 3, 33, 31],
                [7, 7],
                [2, 2],
                [1, 1],
                [3, 2, 3, 1],
                1,
                16,
            ),
            (
                "deep: K > KC, N > NC",
                [1, 40, 20, 18],
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
                9,
            ),
            (
                "1x1 wide: N > NC",
                [3, 300, 17, 19],
                [1, 1],
                [1, 1],
                [1, 1],
                [0; 4],
                1,
                21,
            ),
            (
                "windows a million values past the image",
                [1, 2, 5, 6],
                [3, 3],
                [1, 1],
                [999_999, 999_999],
                [1_000_000; 4],
                1,
                3,
            ),
            (
                "depthwise, windows a million values past the image",
                [1, 2, 5, 6],
                [3, 3],
                [1, 1],
                [999_999, 999_999],
                [1_000_000; 4],
                2,
                2,
            ),
            (
                "kernel larger than input",
                [1, 2, 2, 3],
                [3, 3],
                [1, 1],
                [1, 1],
                [1, 1, 1, 1],
                1,
                3,
            ),
        ];
        for (i, (what, xs, k, s, d, p, group, m)) in cases.into_iter().enumerate() {
            let g = geom(xs, k, s, d, p);
            let x = values(i as u64, xs.iter().product());
            let w = values(100 + i as u64, m * xs[1] / group * k[0] * k[1]);
            let b = values(200 + i as u64, m);
            // The output's memory may be a dead tensor's: every value is written over.
            let len = g.n * m * g.oh * g.ow;
            crate::cpu::spare(vec![f32::NAN; len + i % 3]);
            let got = conv(&x, &w, &b, &g, group, m, None);
            close(what, &got, &naive_conv(&x, &w, &b, &g, group, m));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // Both ways of handing the product its im2col matrix give the same bits.
            for way in [Im2col::Matrix, Im2col::Panels] {
                crate::cpu::spare(vec![f32::NAN; len + 5]);
                let again = conv_with(&x, &w, &b, &g, group, m, None, way);
                assert_eq!(bits(&again), bits(&got), "{what}, im2col as {way:?}");
            }
            // Weights packed once give the same bits (packed here whatever their padding,
            // so that every case with a product runs packed).
            let (cpg, mpg) = (xs[1] / group, m / group);
            if cpg > 1 {
                let packed = pack_groups(&w, group, mpg, cpg * k[0] * k[1]);
                let again = conv(&x, &w, &b, &g, group, m, Some(&packed));
                assert_eq!(bits(&again), bits(&got), "{what}, packed weights");
            }
        }
    }

    /// A packed copy of a model's weights is at most a quarter larger than they are: a
    /// grouped convolution with one output per group is not packed (12 times its weights
    /// on AVX-512), one with many is.
    #[test]
    fn packed_weights_stay_near_their_size() {
        let w = values(1, 64 * 2 * 9);
        assert!(pack_weights(&w, &[64, 2, 3, 3], 64).is_none());
        let w = values(2, 96 * 8 * 9);
        let packed = pack_weights(&w, &[96, 8, 3, 3], 2).expect("48 outputs a group");
        let values: usize = packed.iter().map(Packed::len).sum();
        assert!(
            values * 4 <= w.len() * 5,
            "{values} packed values for {}",
            w.len()
        );
    }

    /// The depthwise loop as each instruction set compiles it.
    type Direct<'a> = &'a dyn Fn(&[f32], &[f32], f32, &mut [f32], &Geom, &mut Vec<f32>);

    /// Depthwise geometries: widths from 5 to 112 (vector tails of every length); strides
    /// 1, 2 and 3; dilation; asymmetric pads; a window larger than the image.
    fn depthwise_cases() -> Vec<Geom> {
        let mut cases = Vec::new();
        for w in [5, 7, 14, 33, 34, 35, 66, 71, 112] {
            for (k, s, d, p) in [
                (3, 1, 1, [1, 1, 1, 1]),
                (5, 1, 1, [2, 2, 2, 2]),
                (3, 2, 1, [0, 0, 1, 1]),
                (3, 2, 1, [1, 1, 1, 1]),
                (5, 2, 1, [1, 2, 1, 2]),
                (3, 3, 1, [0; 4]),
                (3, 1, 2, [2, 2, 2, 2]),
                (3, 1, 1, [0, 2, 1, 0]),
                (9, 1, 1, [4, 4, 4, 4]),
            ] {
                cases.push(geom([1, 1, 9, w], [k, k], [s, s], [d, d], p));
            }
        }
        // Windows a million values past the image: tap by tap, without a padded copy.
        cases.push(geom(
            [1, 1, 9, 20],
            [3, 3],
            [1, 2],
            [999_999; 2],
            [1_000_000; 4],
        ));
        cases
    }

    /// Every build of the depthwise loop gives the same bits, and the naive loop's values.
    #[test]
    fn depthwise_builds_agree_bit_for_bit() {
        for g in depthwise_cases() {
            let x = values(7, g.h * g.w);
            let w = values(8, g.kh * g.kw);
            let run = |f: Direct| -> Vec<u32> {
                let mut y = vec![f32::NAN; g.oh * g.ow];
                f(&x, &w, 0.25, &mut y, &g, &mut vec![f32::NAN; 3]);
                y.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
            };
            let what = format!("width {} kernel {} stride {}", g.w, g.kw, g.sw);
            let want = run(&|x, w, b, y, g, buf| direct_body(x, w, b, y, g, buf));
            let values: Vec<f32> = want.iter().map(|&b| f32::from_bits(b)).collect();
            close(&what, &values, &naive_conv(&x, &w, &[0.25], &g, 1, 1));
            assert_eq!(
                run(&|x, w, b, y, g, _| direct(x, w, b, y, g)),
                want,
                "{what}"
            );
            #[cfg(target_arch = "x86_64")]
            for k in Kernel::available() {
                // SAFETY: `available` lists only kernels this processor runs.
                let got = match k {
                    Kernel::Avx512 => {
                        run(&|x, w, b, y, g, p| unsafe { direct_avx512(x, w, b, y, g, p) })
                    }
                    Kernel::Avx2 => {
                        run(&|x, w, b, y, g, p| unsafe { direct_avx2(x, w, b, y, g, p) })
                    }
                    Kernel::Portable => continue,
                };
                assert_eq!(got, want, "{what}, {}", k.name());
            }
        }
    }

    /// A row-chunked im2col gives what one chunk gives.
    #[test]
    fn conv_in_row_chunks_matches() {
        let g = geom([1, 64, 96, 96], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]);
        assert!(64 * 9 * g.ow * g.oh > SCRATCH, "the case must need chunks");
        let x = values(1, 64 * 96 * 96);
        let w = values(2, 5 * 64 * 9);
        let b = values(3, 5);
        close(
            "chunked",
            &conv(&x, &w, &b, &g, 1, 5, None),
            &naive_conv(&x, &w, &b, &g, 1, 5),
        );
    }

    /// A depthwise convolution large enough to be split over the cores gives each plane
    /// the bits it has alone, whatever the split (two threads, or as many as the parts
    /// `on_cores` makes here), and the naive loop's values.
    #[test]
    fn depthwise_split_over_cores_matches_plane_by_plane() {
        let g = geom([4, 64, 48, 48], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]);
        assert!(
            g.n * g.c * g.oh * g.ow * g.kh * g.kw > 2 * WORK_PER_THREAD,
            "the case must split"
        );
        let x = values(11, 4 * 64 * 48 * 48);
        let w = values(12, 64 * 9);
        let b = values(13, 64);
        let got = conv(&x, &w, &b, &g, 64, 64, None);
        let ohw = g.oh * g.ow;
        for (p, plane) in got.chunks_exact(ohw).enumerate() {
            let (n, o) = (p / 64, p % 64);
            let mut alone = vec![0f32; ohw];
            let xo = &x[(n * 64 + o) * 48 * 48..][..48 * 48];
            direct(xo, &w[o * 9..][..9], b[o], &mut alone, &g);
            assert!(
                plane
                    .iter()
                    .zip(&alone)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "plane {p}"
            );
        }
        close("split", &got, &naive_conv(&x, &w, &b, &g, 64, 64));
        // The split itself: each part starts where the one before ended.
        let mut out = vec![0f32; 7 * 5];
        on_cores(&mut out, 5, 64 * WORK_PER_THREAD, |first, part| {
            for (i, plane) in part.chunks_exact_mut(5).enumerate() {
                plane.fill((first + i) as f32);
            }
        });
        let want: Vec<f32> = (0..7).flat_map(|p| [p as f32; 5]).collect();
        assert_eq!(out, want);
    }
}
