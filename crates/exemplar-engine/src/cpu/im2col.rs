//! im2col: a convolution's input as the matrix of its windows (row `(ci, ky, kx)`, column
//! `(oy, ox)`), written plain or as the product's packed panels of B.

use super::fast::valid;
use crate::graph::Geom;

/// `f(&mut dst[k], src[k * stride])` for every `k < dst.len()`. Strides 1 and 2 are plain
/// loops over slices, which the compiler vectorises (a stepped iterator it does not).
#[inline(always)]
pub(super) fn strided(dst: &mut [f32], src: &[f32], stride: usize, f: impl Fn(&mut f32, f32)) {
    match stride {
        1 => {
            let src = &src[..dst.len()];
            dst.iter_mut().zip(src).for_each(|(d, &s)| f(d, s));
        }
        2 => {
            let Some((last, head)) = dst.split_last_mut() else {
                return;
            };
            // Pairs for all but the last output: the row may end on its last input.
            for (d, pair) in head.iter_mut().zip(src.chunks_exact(2)) {
                f(d, pair[0]);
            }
            f(last, src[2 * head.len()]);
        }
        _ => dst
            .iter_mut()
            .zip(src.iter().step_by(stride))
            .for_each(|(d, &s)| f(d, s)),
    }
}

/// `out` = `s[0], s[2], …, s[14]`: in wasm two shuffles of whole vectors, stored
/// straight into `out`.
#[inline(always)]
pub(super) fn evens(out: &mut [f32; 8], s: &[f32; 16]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{i32x4_shuffle, v128, v128_load, v128_store};
        // SAFETY: four loads of 4 values inside `s`, two stores of 4 inside `out`; wasm's
        // loads and stores allow any alignment.
        unsafe {
            let p = s.as_ptr().cast::<v128>();
            let (a, b, c, d) = (
                v128_load(p),
                v128_load(p.add(1)),
                v128_load(p.add(2)),
                v128_load(p.add(3)),
            );
            let out = out.as_mut_ptr().cast::<v128>();
            v128_store(out, i32x4_shuffle::<0, 2, 4, 6>(a, b));
            v128_store(out.add(1), i32x4_shuffle::<0, 2, 4, 6>(c, d));
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (i, o) in out.iter_mut().enumerate() {
        *o = s[2 * i];
    }
}

/// The im2col matrix of output rows `oy0..oy0 + rows`: row `(ci, ky, kx)`, column
/// `(oy - oy0, ox)`, zero where the window reads padding.
pub(super) fn im2col_matrix(
    x: &[f32],
    g: &Geom,
    cpg: usize,
    oy0: usize,
    rows: usize,
    out: &mut [f32],
) {
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
                        strided(inside, src, g.sw, |d, s| *d = s);
                    }
                }
            }
        }
    }
}

/// [`im2col_matrix`] written as the product's panels of B of `nr` columns
/// ([`Rhs::Panels`](super::gemm::Rhs::Panels)).
pub(super) fn im2col_panels(
    x: &[f32],
    g: &Geom,
    cpg: usize,
    oy0: usize,
    rows: usize,
    nr: usize,
    out: &mut [f32],
) {
    match nr {
        8 => panels_of::<8>(x, g, cpg, oy0, rows, out),
        16 => panels_of::<16>(x, g, cpg, oy0, rows, out),
        32 => panels_of::<32>(x, g, cpg, oy0, rows, out),
        _ => unreachable!("a tile {nr} wide"),
    }
}

/// [`im2col_panels`] for panels `NR` wide: value `(p, j)` at `out[j / NR][p][j % NR]`. Row by
/// row of output, as a plain im2col runs (per-panel bookkeeping cost more than the copy),
/// each row's values inside the image copied `NR` at a time where they fill a panel's row.
fn panels_of<const NR: usize>(
    x: &[f32],
    g: &Geom,
    cpg: usize,
    oy0: usize,
    rows: usize,
    out: &mut [f32],
) {
    let cols = rows * g.ow;
    let kk = cpg * g.kh * g.kw;
    let panel = NR * kk;
    let mut p = 0;
    for ci in 0..cpg {
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            let (oy_lo, oy_hi) = valid(g.oh, g.h, g.sh, ky * g.dh, g.pt);
            for kx in 0..g.kw {
                let (ox_lo, ox_hi) = valid(g.ow, g.w, g.sw, kx * g.dw, g.pl);
                // Row p of every panel: column j at `dst[j / NR * panel + j % NR]`.
                let dst = &mut out[p * NR..];
                p += 1;
                for r in 0..rows {
                    let (oy, j0) = (oy0 + r, r * g.ow);
                    if oy < oy_lo || oy >= oy_hi || ox_lo >= ox_hi {
                        zero_columns::<NR>(dst, panel, j0..j0 + g.ow);
                        continue;
                    }
                    zero_columns::<NR>(dst, panel, j0..j0 + ox_lo);
                    zero_columns::<NR>(dst, panel, j0 + ox_hi..j0 + g.ow);
                    let iy = oy * g.sh + ky * g.dh - g.pt;
                    let src = &plane[iy * g.w + ox_lo * g.sw + kx * g.dw - g.pl..];
                    let (j, end) = (j0 + ox_lo, j0 + ox_hi);
                    // The whole rows of panels in the middle with vector copies, the values
                    // around them one by one (pieces of a panel's row through `strided` took
                    // longer in wasm, where panels are 8 wide).
                    let (ja, jb) = (j.next_multiple_of(NR).min(end), end / NR * NR);
                    let single = |dst: &mut [f32], jj: usize| {
                        dst[jj / NR * panel + jj % NR] = src[(jj - j) * g.sw];
                    };
                    if ja >= jb {
                        (j..end).for_each(|jj| single(dst, jj));
                        continue;
                    }
                    (j..ja).for_each(|jj| single(dst, jj));
                    let middle = &src[(ja - j) * g.sw..];
                    let count = (jb - ja) / NR;
                    let mut rows_of_panels = dst.chunks_mut(panel).skip(ja / NR).take(count);
                    match g.sw {
                        1 => {
                            for (d, s) in rows_of_panels.zip(middle.chunks_exact(NR)) {
                                d[..NR].copy_from_slice(s);
                            }
                        }
                        2 => {
                            // The last may have one value fewer than 2 NR (the row's end).
                            let pairs = middle.chunks_exact(2 * NR);
                            let whole = pairs.len().min(count);
                            for (d, s) in rows_of_panels.by_ref().take(whole).zip(pairs) {
                                for (d, s) in d[..NR].chunks_exact_mut(8).zip(s.chunks_exact(16)) {
                                    let d: &mut [f32; 8] = d.try_into().expect("8 values");
                                    evens(d, s.try_into().expect("16 values"));
                                }
                            }
                            if let Some(d) = rows_of_panels.next() {
                                let s = &middle[(count - 1) * 2 * NR..];
                                strided(&mut d[..NR], s, 2, |d, s| *d = s);
                            }
                        }
                        sw => {
                            for (k, d) in rows_of_panels.enumerate() {
                                strided(&mut d[..NR], &middle[k * NR * sw..], sw, |d, s| *d = s);
                            }
                        }
                    }
                    (jb..end).for_each(|jj| single(dst, jj));
                }
            }
        }
    }
    // The last panel's columns past the matrix, which the product computes and drops:
    // zero rather than whatever the buffer held.
    for p in 0..kk {
        zero_columns::<NR>(&mut out[p * NR..], panel, cols..cols.div_ceil(NR) * NR);
    }
}

/// Columns `js` of one row of panels (`dst[j / NR * panel + j % NR]`) set to zero.
fn zero_columns<const NR: usize>(dst: &mut [f32], panel: usize, js: std::ops::Range<usize>) {
    pieces::<NR>(panel, js, |at, _, len| dst[at..at + len].fill(0.0));
}

/// `each(at, j, len)` for the pieces of columns `js` that lie in one panel: in one row of
/// panels, columns `j..j + len` are `at..at + len`.
#[inline(always)]
fn pieces<const NR: usize>(
    panel: usize,
    js: std::ops::Range<usize>,
    mut each: impl FnMut(usize, usize, usize),
) {
    let mut j = js.start;
    while j < js.end {
        let len = (NR - j % NR).min(js.end - j);
        each(j / NR * panel + j % NR, j, len);
        j += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fast::tests::{geom, values};

    /// im2col_panels writes every value of its panels, for every tile width: rows of outputs
    /// wider and narrower than a panel, one column, strides 1 to 3, dilation, padding on
    /// each side, a chunk of rows starting inside the image.
    #[test]
    fn im2col_writes_the_matrix_in_panels() {
        let cases = [
            geom([1, 3, 33, 31], [7, 7], [2, 2], [1, 1], [3, 2, 3, 1]),
            geom([1, 2, 14, 14], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            geom([1, 2, 9, 1], [3, 1], [1, 1], [1, 1], [1, 0, 1, 0]),
            geom([1, 3, 40, 70], [3, 3], [3, 2], [2, 1], [0, 2, 1, 0]),
            geom([1, 1, 5, 100], [1, 5], [1, 3], [1, 2], [0, 4, 0, 4]),
        ];
        for (i, g) in cases.iter().enumerate() {
            let x = values(i as u64, g.c * g.h * g.w);
            for nr in [8, 16, 32] {
                for (oy0, rows) in [(0, g.oh), (1, g.oh - 2)] {
                    let (cols, kk) = (rows * g.ow, g.c * g.kh * g.kw);
                    let mut got = vec![f32::NAN; cols.div_ceil(nr) * nr * kk];
                    im2col_panels(&x, g, g.c, oy0, rows, nr, &mut got);
                    for (at, &v) in got.iter().enumerate() {
                        let (q, p, c) = (at / (nr * kk), at / nr % kk, at % nr);
                        let j = q * nr + c;
                        let (ci, ky, kx) = (p / (g.kh * g.kw), p / g.kw % g.kh, p % g.kw);
                        let (oy, ox) = (oy0 + j / g.ow, j % g.ow);
                        let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                        let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                        let inside = j < cols
                            && (0..g.h as isize).contains(&iy)
                            && (0..g.w as isize).contains(&ix);
                        let want = if inside {
                            x[(ci * g.h + iy as usize) * g.w + ix as usize]
                        } else {
                            0.0
                        };
                        assert!(
                            v.to_bits() == want.to_bits(),
                            "case {i}, panels of {nr}, rows {oy0}+{rows}: [{q}][{p}][{c}] {v} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
