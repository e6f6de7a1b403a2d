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

/// The window walked tap by tap: for every tap `t = ky · kw + kx` (row-major) and every
/// output row whose tap lies inside the image, `each(t, outs, at)`: the outputs `outs` (a
/// range of the output plane) read the input plane's values `at`, `at + sw`, … in order.
/// Average pooling and the depthwise loop's fallback accumulate over it.
#[inline(always)]
pub(super) fn tap_rows(g: &Geom, mut each: impl FnMut(usize, std::ops::Range<usize>, usize)) {
    for ky in 0..g.kh {
        let (oy_lo, oy_hi) = valid(g.oh, g.h, g.sh, ky * g.dh, g.pt);
        for kx in 0..g.kw {
            let (ox_lo, ox_hi) = valid(g.ow, g.w, g.sw, kx * g.dw, g.pl);
            if ox_lo >= ox_hi {
                continue;
            }
            let ix0 = ox_lo * g.sw + kx * g.dw - g.pl;
            for oy in oy_lo..oy_hi {
                let iy = oy * g.sh + ky * g.dh - g.pt;
                each(
                    ky * g.kw + kx,
                    oy * g.ow + ox_lo..oy * g.ow + ox_hi,
                    iy * g.w + ix0,
                );
            }
        }
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

/// A group's input planes as a convolution's windows read them, padding included: the
/// value at padded row `yp`, column `xp` of channel `ci` is `data[ci * plane + yp * row +
/// xp]`. The input itself where its windows read no padding, else a zero-padded copy.
pub(super) struct Padded<'a> {
    data: &'a [f32],
    plane: usize,
    row: usize,
}

/// The extent `(hp, wp)` of a zero-padded copy of one input plane as `g`'s windows read
/// it (padded rows `oy · sh + ky · dh`, columns `ox · sw + kx · dw`), where that copy, with
/// room for the phases of its stride, stays near the sizes of the plane and its output.
/// `None` only for windows whose padding and dilation reach far beyond the image, which a
/// model file may declare: they take the paths that never copy the padding (im2col as a
/// plain matrix, the depthwise loop tap by tap) rather than a copy of up to 2^62 values.
pub(super) fn padded_extent(g: &Geom) -> Option<(usize, usize)> {
    let span = |o: usize, s: usize, k: usize, d: usize| {
        let taps = k.checked_sub(1)?.checked_mul(d)?;
        o.max(1)
            .checked_sub(1)?
            .checked_mul(s)?
            .checked_add(taps)?
            .checked_add(1)
    };
    let bound = 4 * (g.h * g.w + g.oh * g.ow) + (1 << 16);
    let (wp, hp) = (span(g.ow, g.sw, g.kw, g.dw)?, span(g.oh, g.sh, g.kh, g.dh)?);
    let values = wp.checked_add(g.sw)?.checked_mul(hp)?;
    (values <= bound).then_some((hp, wp))
}

/// Writes one input plane (`g.h × g.w` values) zero-padded to `hp × wp` ([`padded_extent`])
/// into `out`, each padded row stored as its `phases` phases: columns `k, k + phases, k + 2
/// phases, …` for each `k < phases`, `wp.div_ceil(phases)` values each (so `out` holds
/// `hp · phases · wp.div_ceil(phases)` values). One phase is the plain padded plane.
#[inline(always)]
pub(super) fn pad_plane(
    src: &[f32],
    g: &Geom,
    (hp, wp): (usize, usize),
    phases: usize,
    out: &mut [f32],
) {
    let len = wp.div_ceil(phases);
    let pitch = phases * len;
    for (yp, row) in out[..hp * pitch].chunks_exact_mut(pitch).enumerate() {
        let Some(iy) = yp.checked_sub(g.pt).filter(|&iy| iy < g.h) else {
            row.fill(0.0);
            continue;
        };
        let src = &src[iy * g.w..][..g.w];
        for (k, phase) in row.chunks_exact_mut(len).enumerate() {
            // Phase value i is input column `i * phases + k - pl`.
            let (lo, hi) = valid(len, g.w, phases, k, g.pl);
            phase[..lo].fill(0.0);
            phase[hi..].fill(0.0);
            if lo < hi {
                let from = lo * phases + k - g.pl;
                strided(&mut phase[lo..hi], &src[from..], phases, |d, v| *d = v);
            }
        }
    }
}

/// `x`'s `cpg` planes as [`Padded`]: `x` itself where the windows read no padding, else
/// copied into `buf` (whatever it held); `None` for windows far past the image
/// ([`padded_extent`]).
pub(super) fn padded<'a>(
    x: &'a [f32],
    g: &Geom,
    cpg: usize,
    buf: &'a mut Vec<f32>,
) -> Option<Padded<'a>> {
    let (hp, wp) = padded_extent(g)?;
    if g.pt == 0 && g.pl == 0 && wp <= g.w && hp <= g.h {
        return Some(Padded {
            data: x,
            plane: g.h * g.w,
            row: g.w,
        });
    }
    buf.resize(cpg * hp * wp, 0.0);
    buf.truncate(cpg * hp * wp);
    for (ci, plane) in buf.chunks_exact_mut(hp * wp).enumerate() {
        pad_plane(&x[ci * g.h * g.w..][..g.h * g.w], g, (hp, wp), 1, plane);
    }
    Some(Padded {
        data: buf,
        plane: hp * wp,
        row: wp,
    })
}

/// [`im2col_matrix`] written as the product's panels of B of `nr` columns
/// ([`Rhs::Panels`](super::gemm::Rhs::Panels)), from the group's [`padded`] input.
pub(super) fn im2col_panels(
    x: &Padded,
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

/// [`im2col_panels`] for panels `NR` wide: value `(p, j)` at `out[j / NR][p][j % NR]`, the
/// padded input's value at `base(p) + at(j)`. A panel's row whose columns lie in one output
/// row is one vector copy (or two shuffles, for stride 2); at stride 1, one that straddles
/// two output rows is a select of two vector loads; the rest (the last panel, straddles at
/// other strides) one read per value through the table `at`. Nothing is worked out per row
/// of the image: an earlier version found each row's values inside the image and copied
/// those around whole panels one by one, and the GoogLeNet-style network of the browser
/// benchmark took about 8 % longer in wasm (Node, interleaved runs).
fn panels_of<const NR: usize>(
    x: &Padded,
    g: &Geom,
    cpg: usize,
    oy0: usize,
    rows: usize,
    out: &mut [f32],
) {
    let cols = rows * g.ow;
    let kk = cpg * g.kh * g.kw;
    let at: Vec<usize> = (0..cols)
        .map(|j| j / g.ow * g.sh * x.row + j % g.ow * g.sw)
        .collect();
    let rows: Vec<Row> = (0..cols.div_ceil(NR))
        .map(|q| {
            let (j, last) = (q * NR, q * NR + NR - 1);
            let (r, k) = (j / g.ow, g.ow - j % g.ow);
            if last >= cols {
                Row::Each
            } else if last / g.ow == r {
                Row::Whole(at[j])
            } else if g.sw == 1 && last / g.ow == r + 1 && at[j + k] >= k {
                Row::Two(at[j], at[j + k] - k, k)
            } else {
                Row::Each
            }
        })
        .collect();
    let plane = |p: usize| {
        let (ci, ky, kx) = (p / (g.kh * g.kw), p / g.kw % g.kh, p % g.kw);
        ci * x.plane + (oy0 * g.sh + ky * g.dh) * x.row + kx * g.dw
    };
    let panels = Panels {
        kk,
        at: &at,
        rows: &rows,
    };
    match g.sw {
        1 => panels.write::<NR>(x.data, plane, out, |d, s| d.copy_from_slice(&s[..NR])),
        2 => panels.write::<NR>(x.data, plane, out, |d, s| {
            // The last panel of the input may lack the value past its last.
            if s.len() < 2 * NR {
                return strided(d, s, 2, |d, s| *d = s);
            }
            for (d, s) in d.chunks_exact_mut(8).zip(s.chunks_exact(16)) {
                let d: &mut [f32; 8] = d.try_into().expect("8 values");
                evens(d, s.try_into().expect("16 values"));
            }
        }),
        sw => panels.write::<NR>(x.data, plane, out, |d, s| strided(d, s, sw, |d, s| *d = s)),
    }
}

/// Where [`panels_of`]'s values come from: the rows of panels (`kk`), each column's
/// offset in a padded plane (`at`), and how each panel's rows are copied (`rows`).
struct Panels<'a> {
    kk: usize,
    at: &'a [usize],
    rows: &'a [Row],
}

/// How a panel's rows are copied from a padded plane.
#[derive(Clone, Copy)]
enum Row {
    /// Its columns lie in one output row: `NR` values from this offset (stride 1), or every
    /// `sw`-th value.
    Whole(usize),
    /// Stride 1, its first `k` columns at the end of an output row and the others at the
    /// start of the next: value `c` is at `a + c` for `c < k`, else at `b + c`.
    Two(usize, usize, usize),
    /// One by one, through the table of offsets; zero past the last column.
    Each,
}

impl Panels<'_> {
    /// Row p of every panel from `src[plane(p)..]`, for every p.
    #[inline(always)]
    fn write<const NR: usize>(
        &self,
        src: &[f32],
        plane: impl Fn(usize) -> usize,
        out: &mut [f32],
        copy: impl Fn(&mut [f32], &[f32]),
    ) {
        let panel = NR * self.kk;
        for p in 0..self.kk {
            let base = &src[plane(p)..];
            for ((q, dst), &row) in out[p * NR..].chunks_mut(panel).enumerate().zip(self.rows) {
                let dst = &mut dst[..NR];
                // One arm for the copy one by one: written as a closure called from two
                // arms, the ResNet-style network took a tenth longer in V8.
                let two = match row {
                    Row::Whole(a) => {
                        copy(dst, &base[a..]);
                        continue;
                    }
                    Row::Two(a, b, k) => base.get(a..a + NR).zip(base.get(b..b + NR)).zip(Some(k)),
                    Row::Each => None,
                };
                match two {
                    Some(((s, t), k)) => join(dst, s, t, k),
                    None => {
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d = self.at.get(q * NR + c).map_or(0.0, |&a| base[a]);
                        }
                    }
                }
            }
        }
    }
}

/// `out[c]` = `s[c]` for `c < k`, else `t[c]`, for slices of a multiple of 4 values: a
/// vector select per 4 in wasm (the compiler left the plain loop scalar).
#[inline(always)]
fn join(out: &mut [f32], s: &[f32], t: &[f32], k: usize) {
    let fours = out
        .chunks_exact_mut(4)
        .zip(s.chunks_exact(4))
        .zip(t.chunks_exact(4));
    for (i, ((d, s), t)) in fours.enumerate() {
        let d: &mut [f32; 4] = d.try_into().expect("4 values");
        let (s, t) = (
            s.try_into().expect("4 values"),
            t.try_into().expect("4 values"),
        );
        select4(d, s, t, k.saturating_sub(4 * i));
    }
}

/// `out[c]` = `s[c]` for `c < k`, else `t[c]`: in wasm one vector select.
#[inline(always)]
fn select4(out: &mut [f32; 4], s: &[f32; 4], t: &[f32; 4], k: usize) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{
            i32x4, i32x4_lt, i32x4_splat, v128, v128_bitselect, v128_load, v128_store,
        };
        let k = k.min(4) as i32;
        // SAFETY: one load of 4 values inside `s` and `t` each, one store of 4 inside `out`;
        // wasm's loads and stores allow any alignment.
        unsafe {
            let mask = i32x4_lt(i32x4(0, 1, 2, 3), i32x4_splat(k));
            let (s, t) = (v128_load(s.as_ptr().cast()), v128_load(t.as_ptr().cast()));
            v128_store(out.as_mut_ptr().cast::<v128>(), v128_bitselect(s, t, mask));
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for c in 0..4 {
        out[c] = if c < k { s[c] } else { t[c] };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fast::tests::{geom, values};

    /// im2col_panels writes every value of its panels, for every tile width: rows of outputs
    /// wider and narrower than a panel, one column, strides 1 to 3, dilation, padding on
    /// each side or none, a chunk of rows starting inside the image.
    #[test]
    fn im2col_writes_the_matrix_in_panels() {
        let cases = [
            geom([1, 3, 33, 31], [7, 7], [2, 2], [1, 1], [3, 2, 3, 1]),
            geom([1, 2, 14, 14], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            geom([1, 2, 9, 1], [3, 1], [1, 1], [1, 1], [1, 0, 1, 0]),
            geom([1, 3, 40, 70], [3, 3], [3, 2], [2, 1], [0, 2, 1, 0]),
            geom([1, 1, 5, 100], [1, 5], [1, 3], [1, 2], [0, 4, 0, 4]),
            // No padding (the input read in place), stride 2: the last panel ends on the
            // input's last value.
            geom([1, 2, 17, 33], [3, 3], [2, 2], [1, 1], [0, 0, 0, 0]),
            // Padding on the right and at the bottom only; windows that never reach it.
            geom([1, 2, 12, 20], [3, 3], [1, 1], [1, 1], [0, 0, 2, 2]),
            geom([1, 2, 13, 21], [2, 2], [2, 2], [1, 1], [0, 0, 1, 1]),
        ];
        // Windows reaching a million values past a 5 x 6 image (7 x 8 outputs): no copy.
        let far = geom([1, 2, 5, 6], [3, 3], [1, 1], [999_999; 2], [1_000_000; 4]);
        assert!((far.oh, far.ow) == (7, 8) && padded_extent(&far).is_none());
        for (i, g) in cases.iter().enumerate() {
            assert!(padded_extent(g).is_some(), "case {i}");
            let x = values(i as u64, g.c * g.h * g.w);
            for nr in [8, 16, 32] {
                for (oy0, rows) in [(0, g.oh), (1, g.oh - 2)] {
                    let (cols, kk) = (rows * g.ow, g.c * g.kh * g.kw);
                    let mut got = vec![f32::NAN; cols.div_ceil(nr) * nr * kk];
                    let mut buf = vec![f32::NAN; 7];
                    let xp = padded(&x, g, g.c, &mut buf).expect("windows near the image");
                    im2col_panels(&xp, g, g.c, oy0, rows, nr, &mut got);
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
