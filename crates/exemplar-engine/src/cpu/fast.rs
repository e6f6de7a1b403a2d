//! The CPU's compute-heavy kernels: a cache-blocked, register-tiled matrix product and the
//! convolution on top of it (im2col into a reused scratch buffer; 1×1 stride-1 convolutions
//! read the input directly; one input channel per group, as in depthwise convolutions, runs
//! directly on the image). Plain safe loops over fixed-size tiles, which LLVM turns into
//! SIMD where the target has it (wasm32 with `simd128`, x86-64's SSE) and into unrolled
//! scalar code elsewhere: the browser's fallback runs in one Web Worker, without threads.

use crate::graph::Geom;

/// Rows of C one micro-kernel call computes (each value of B loaded is used `MR` times).
const MR: usize = 4;
/// Columns of C one micro-kernel call computes: two SSE / wasm SIMD vectors; `MR × NR`
/// accumulators plus a row of B fit the 16 vector registers of x86-64.
const NR: usize = 8;
/// Depth of a block: a packed `MR × KC` panel of A and `KC × NR` panel of B stay in L1.
const KC: usize = 256;
/// Columns of a block: a packed `KC × NC` block of B (256 KiB) stays in L2.
const NC: usize = 256;
/// At most this many values of im2col scratch (16 MiB); larger images go in row chunks.
const SCRATCH: usize = 1 << 22;

/// A read-only matrix view: element (row, col) is `data[row * rs + col * cs]`, so a
/// transposed operand is the same data with its strides swapped.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl Mat<'_> {
    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.rs + c * self.cs]
    }
}

/// `c[i * ldc + j] += Σ_p a(i, p) · b(p, j)` for `i < m`, `j < n`.
pub(crate) fn gemm_acc(m: usize, n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32], ldc: usize) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    if m == 1 {
        return gemv_acc(n, k, a, b, c);
    }
    let mp = m.div_ceil(MR) * MR;
    let mut apack = vec![0f32; mp * KC.min(k)];
    let mut bpack = vec![0f32; NC.min(n).div_ceil(NR) * NR * KC.min(k)];
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        // A's rows in panels of MR, each panel p-major: apack[panel][p][r].
        for (ip, panel) in apack.chunks_exact_mut(MR * kc).take(mp / MR).enumerate() {
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (r, d) in dst.iter_mut().enumerate() {
                    let i = ip * MR + r;
                    *d = if i < m { a.at(i, pc + p) } else { 0.0 };
                }
            }
        }
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            let panels = nc.div_ceil(NR);
            // B's columns in panels of NR: bpack[panel][p][c].
            for (jp, panel) in bpack.chunks_exact_mut(NR * kc).take(panels).enumerate() {
                let j0 = jc + jp * NR;
                let width = NR.min(n - j0);
                for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                    let row = pc + p;
                    if b.cs == 1 {
                        let start = row * b.rs + j0;
                        dst[..width].copy_from_slice(&b.data[start..start + width]);
                    } else {
                        for (cc, d) in dst[..width].iter_mut().enumerate() {
                            *d = b.at(row, j0 + cc);
                        }
                    }
                    dst[width..].fill(0.0);
                }
            }
            for (ip, ap) in apack.chunks_exact(MR * kc).take(mp / MR).enumerate() {
                let i0 = ip * MR;
                let rows = MR.min(m - i0);
                for (jp, bp) in bpack.chunks_exact(NR * kc).take(panels).enumerate() {
                    let j0 = jc + jp * NR;
                    let cols = NR.min(n - j0);
                    let acc = micro(ap, bp);
                    for (r, acc_row) in acc.iter().enumerate().take(rows) {
                        let start = (i0 + r) * ldc + j0;
                        for (dst, v) in c[start..start + cols].iter_mut().zip(acc_row) {
                            *dst += v;
                        }
                    }
                }
            }
        }
    }
}

/// `MR × NR` products of a packed panel of A (`[p][r]`) and one of B (`[p][c]`).
#[inline(always)]
fn micro(ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0f32; NR]; MR];
    for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let a: &[f32; MR] = a.try_into().expect("chunks of MR");
        let b: &[f32; NR] = b.try_into().expect("chunks of NR");
        for r in 0..MR {
            for cc in 0..NR {
                acc[r][cc] += a[r] * b[cc];
            }
        }
    }
    acc
}

/// One row of A: `c[j] += Σ_p a(0, p) · b(p, j)`.
fn gemv_acc(n: usize, k: usize, a: Mat, b: Mat, c: &mut [f32]) {
    if b.cs == 1 {
        // Rows of B are contiguous: an axpy per row.
        for p in 0..k {
            let av = a.at(0, p);
            let row = &b.data[p * b.rs..p * b.rs + n];
            for (dst, &bv) in c[..n].iter_mut().zip(row) {
                *dst += av * bv;
            }
        }
    } else if b.rs == 1 {
        // Columns of B are contiguous (a transposed weight): a dot product per column,
        // summed in NR lanes so that it vectorises without reassociating.
        let av: Vec<f32> = (0..k).map(|p| a.at(0, p)).collect();
        for (j, dst) in c[..n].iter_mut().enumerate() {
            let col = &b.data[j * b.cs..j * b.cs + k];
            let mut lanes = [0f32; NR];
            let (ac, bc) = (av.chunks_exact(NR), col.chunks_exact(NR));
            let (ar, br) = (ac.remainder(), bc.remainder());
            for (x, y) in ac.zip(bc) {
                for l in 0..NR {
                    lanes[l] += x[l] * y[l];
                }
            }
            let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
            *dst += lanes.iter().sum::<f32>() + tail;
        }
    } else {
        for (j, dst) in c[..n].iter_mut().enumerate() {
            *dst += (0..k).map(|p| a.at(0, p) * b.at(p, j)).sum::<f32>();
        }
    }
}

/// Output positions `o < out` whose input index `o * stride + offset - pad` lies in
/// `0..len`, as a range.
fn valid(out: usize, len: usize, stride: usize, offset: usize, pad: usize) -> (usize, usize) {
    // o * stride + offset >= pad
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    // o * stride + offset < len + pad
    let hi = (len + pad).saturating_sub(offset).div_ceil(stride);
    (lo.min(out), hi.clamp(lo.min(out), out))
}

/// 2-D convolution, NCHW: `x` is `[n, c, h, w]`, `w` `[m, c / group, kh, kw]`, the result
/// `[n, m, oh, ow]`.
pub(crate) fn conv(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &Geom,
    group: usize,
    m: usize,
) -> Vec<f32> {
    let cpg = g.c / group;
    let mpg = m / group;
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let kk = cpg * g.kh * g.kw;
    let mut y = vec![0f32; g.n * m * ohw];
    for (o, plane) in y.chunks_exact_mut(ohw.max(1)).enumerate() {
        plane.fill(bias.get(o % m).copied().unwrap_or(0.0));
    }
    if ohw == 0 {
        return y;
    }
    let pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1;
    let pointwise = pointwise && g.pt == 0 && g.pl == 0 && g.oh == g.h && g.ow == g.w;
    // Output rows per im2col chunk.
    let rows = (SCRATCH / (kk * g.ow).max(1)).clamp(1, g.oh);
    let mut scratch = if pointwise || cpg == 1 {
        Vec::new()
    } else {
        vec![0f32; kk * rows * g.ow]
    };
    for n in 0..g.n {
        for gi in 0..group {
            let xg = &x[(n * g.c + gi * cpg) * hw..][..cpg * hw];
            let wg = &w[gi * mpg * kk..][..mpg * kk];
            let yg = &mut y[(n * m + gi * mpg) * ohw..][..mpg * ohw];
            if cpg == 1 {
                for (o, yo) in yg.chunks_exact_mut(ohw).enumerate() {
                    direct(xg, &wg[o * kk..][..kk], yo, g);
                }
            } else if pointwise {
                let a = Mat {
                    data: wg,
                    rs: kk,
                    cs: 1,
                };
                let b = Mat {
                    data: xg,
                    rs: hw,
                    cs: 1,
                };
                gemm_acc(mpg, ohw, kk, a, b, yg, ohw);
            } else {
                for oy0 in (0..g.oh).step_by(rows) {
                    let nr = rows.min(g.oh - oy0);
                    let cols = nr * g.ow;
                    im2col(xg, g, cpg, oy0, nr, &mut scratch[..kk * cols]);
                    let a = Mat {
                        data: wg,
                        rs: kk,
                        cs: 1,
                    };
                    let b = Mat {
                        data: &scratch,
                        rs: cols,
                        cs: 1,
                    };
                    gemm_acc(mpg, cols, kk, a, b, &mut yg[oy0 * g.ow..], ohw);
                }
            }
        }
    }
    y
}

/// One output plane from one input plane (a channel of a depthwise convolution): the
/// innermost loop runs over contiguous output x.
fn direct(x: &[f32], w: &[f32], y: &mut [f32], g: &Geom) {
    for ky in 0..g.kh {
        let (oy_lo, oy_hi) = valid(g.oh, g.h, g.sh, ky * g.dh, g.pt);
        for kx in 0..g.kw {
            let wv = w[ky * g.kw + kx];
            let (ox_lo, ox_hi) = valid(g.ow, g.w, g.sw, kx * g.dw, g.pl);
            if ox_lo >= ox_hi {
                continue;
            }
            let ix0 = ox_lo * g.sw + kx * g.dw - g.pl;
            let count = ox_hi - ox_lo;
            for oy in oy_lo..oy_hi {
                let iy = oy * g.sh + ky * g.dh - g.pt;
                let dst = &mut y[oy * g.ow + ox_lo..oy * g.ow + ox_hi];
                let src = &x[iy * g.w + ix0..];
                if g.sw == 1 {
                    for (d, &s) in dst.iter_mut().zip(&src[..count]) {
                        *d += wv * s;
                    }
                } else {
                    for (d, &s) in dst.iter_mut().zip(src.iter().step_by(g.sw)) {
                        *d += wv * s;
                    }
                }
            }
        }
    }
}

/// The im2col matrix of output rows `oy0..oy0 + rows`: row `(ci, ky, kx)`, column
/// `(oy - oy0, ox)`, zero where the window reads padding.
fn im2col(x: &[f32], g: &Geom, cpg: usize, oy0: usize, rows: usize, out: &mut [f32]) {
    let cols = rows * g.ow;
    let mut dst_rows = out.chunks_exact_mut(cols);
    for ci in 0..cpg {
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            let (oy_lo, oy_hi) = valid(g.oh, g.h, g.sh, ky * g.dh, g.pt);
            for kx in 0..g.kw {
                let Some(dst) = dst_rows.next() else { return };
                let (ox_lo, ox_hi) = valid(g.ow, g.w, g.sw, kx * g.dw, g.pl);
                for (r, line) in dst.chunks_exact_mut(g.ow).enumerate() {
                    let oy = oy0 + r;
                    if oy < oy_lo || oy >= oy_hi || ox_lo >= ox_hi {
                        line.fill(0.0);
                        continue;
                    }
                    let iy = oy * g.sh + ky * g.dh - g.pt;
                    let ix0 = ox_lo * g.sw + kx * g.dw - g.pl;
                    let src = &plane[iy * g.w + ix0..];
                    line[..ox_lo].fill(0.0);
                    line[ox_hi..].fill(0.0);
                    let inside = &mut line[ox_lo..ox_hi];
                    if g.sw == 1 {
                        inside.copy_from_slice(&src[..inside.len()]);
                    } else {
                        for (d, &s) in inside.iter_mut().zip(src.iter().step_by(g.sw)) {
                            *d = s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeded values in [-1, 1) (SplitMix64).
    fn values(seed: u64, n: usize) -> Vec<f32> {
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

    fn close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs() + 1e-4,
                "{what}: [{i}] {a} vs {b}"
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn geom(
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
            let got = conv(&x, &w, &b, &g, group, m);
            close(what, &got, &naive_conv(&x, &w, &b, &g, group, m));
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
            &conv(&x, &w, &b, &g, 1, 5),
            &naive_conv(&x, &w, &b, &g, 1, 5),
        );
    }

    #[test]
    fn gemm_matches_the_naive_loop() {
        for (i, (m, n, k)) in [
            (1, 7, 5),
            (1, 300, 600),
            (5, 3, 2),
            (13, 270, 300),
            (4, 8, 256),
            (37, 9, 1),
        ]
        .into_iter()
        .enumerate()
        {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = values(i as u64, m * k);
                let b = values(50 + i as u64, k * n);
                let am = if ta {
                    Mat {
                        data: &a,
                        rs: 1,
                        cs: m,
                    }
                } else {
                    Mat {
                        data: &a,
                        rs: k,
                        cs: 1,
                    }
                };
                let bm = if tb {
                    Mat {
                        data: &b,
                        rs: 1,
                        cs: k,
                    }
                } else {
                    Mat {
                        data: &b,
                        rs: n,
                        cs: 1,
                    }
                };
                let want: Vec<f32> = (0..m * n)
                    .map(|ij| {
                        let (r, c) = (ij / n, ij % n);
                        (0..k)
                            .map(|p| f64::from(am.at(r, p)) * f64::from(bm.at(p, c)))
                            .sum::<f64>() as f32
                    })
                    .collect();
                let mut got = vec![0f32; m * n];
                gemm_acc(m, n, k, am, bm, &mut got, n);
                close(
                    &format!("{m}x{k} · {k}x{n}, transposed {ta} {tb}"),
                    &got,
                    &want,
                );
            }
        }
    }
}
