//! The CPU's matrix product, where a network's time goes: cache-blocked (packed panels of A
//! and B that stay in L1 and L2), register-tiled by a micro-kernel chosen once for the
//! machine, and, natively, split over the cores by rows of C.
//!
//! The micro-kernels are the same plain loop over a fixed-size tile of accumulators,
//! compiled for different instruction sets and left to LLVM to vectorise:
//! - `Avx512` (a 12 × 32 tile) and `Avx2` (6 × 16) on x86-64, chosen at run time
//!   (`is_x86_feature_detected!`), with fused multiply-adds;
//! - `Portable` (4 × 8) everywhere else: x86-64's baseline SSE2, and wasm32, where the
//!   tile is compiled for `simd128` (which every browser that runs the app has).
//!
//! Every kernel accumulates each element of C over one depth block in the same order, so
//! the two FMA kernels give the same bits, and neither the split over threads nor the
//! machine's core count changes a result. The portable kernel rounds each product before
//! adding it, so its results can differ from theirs in the last bits.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Depth of a block: a packed `MR × KC` panel of A and `KC × NR` panel of B stay in L1.
const KC: usize = 256;
/// Columns of a block: a packed `KC × NC` block of B (256 KiB) stays in L2.
const NC: usize = 256;
/// Rows of C a thread's share is rounded to: a multiple of every kernel's tile height.
const ROW_QUANTUM: usize = 12;
/// Multiply-adds below which another thread costs more than it saves (~0.1 ms of work).
pub(crate) const WORK_PER_THREAD: usize = 1 << 21;

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

    /// The same matrix from row `r0` on.
    fn rows_from(self, r0: usize) -> Self {
        Mat {
            data: &self.data[r0 * self.rs..],
            ..self
        }
    }
}

/// The left operand of a product: a matrix view, packed at each product, or a matrix
/// packed once (a convolution's weights) and the row its share starts at.
#[derive(Clone, Copy)]
pub(crate) enum Lhs<'a> {
    Mat(Mat<'a>),
    Packed(&'a Packed, usize),
}

impl Lhs<'_> {
    /// The same operand from row `r0` on (a multiple of every tile's height where packed).
    fn rows_from(self, r0: usize) -> Self {
        match self {
            Lhs::Mat(a) => Lhs::Mat(a.rows_from(r0)),
            Lhs::Packed(p, start) => {
                debug_assert_eq!(r0 % ROW_QUANTUM, 0, "a share of packed rows");
                Lhs::Packed(p, start + r0)
            }
        }
    }
}

/// The right operand of a product: a matrix view, packed at each product, or the whole
/// matrix already packed for the kernel, as a convolution's im2col writes it (packing its
/// im2col matrix again was a tenth of the browser's CPU fallback's time).
#[derive(Clone, Copy)]
pub(crate) enum Rhs<'a> {
    Mat(Mat<'a>),
    /// Columns in panels of `nr` (the kernel's tile width), each panel over the whole
    /// depth, p-major: `data[panel][p][c]`; what the last panel holds past `n` is not
    /// read into C.
    Panels {
        data: &'a [f32],
        nr: usize,
    },
}

/// An `m × k` matrix packed once for one kernel, as [`gemm`] packs A at every product:
/// depth blocks of [`KC`], each the matrix's rows in panels of the kernel's tile height.
/// A convolution's weights, packed when a graph first runs them: packing them at every
/// product was a tenth of EfficientNet-Lite0's time (its late layers have many weights
/// and few positions).
#[derive(Debug)]
pub(crate) struct Packed {
    kernel: Kernel,
    /// Rows rounded up to whole panels.
    mp: usize,
    data: Vec<f32>,
}

impl Packed {
    /// `a` (`m × k`) packed for this machine's fastest kernel.
    pub(crate) fn new(m: usize, k: usize, a: Mat) -> Packed {
        Packed::with(Kernel::best(), m, k, a)
    }

    /// `a` packed for `kernel`.
    pub(crate) fn with(kernel: Kernel, m: usize, k: usize, a: Mat) -> Packed {
        let mr = kernel.tile_rows();
        let mp = m.div_ceil(mr) * mr;
        let mut data = vec![0f32; mp * k];
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let block = &mut data[pc * mp..][..mp * kc];
            match mr {
                PORTABLE_MR => pack_a::<PORTABLE_MR>(a, m, pc, kc, block),
                6 => pack_a::<6>(a, m, pc, kc, block),
                _ => pack_a::<12>(a, m, pc, kc, block),
            }
        }
        Packed { kernel, mp, data }
    }

    /// The kernel it was packed for.
    pub(crate) fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Rows `m` takes packed for this machine's fastest kernel (whole tiles).
    pub(crate) fn padded_rows(m: usize) -> usize {
        let mr = Kernel::best().tile_rows();
        m.div_ceil(mr) * mr
    }

    /// The values it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The panels of depth block `pc..pc + kc` from row `r0` on.
    fn panels(&self, pc: usize, kc: usize, r0: usize) -> &[f32] {
        &self.data[pc * self.mp..][..self.mp * kc][r0 * kc..]
    }
}

/// A's rows `0..m`, depth `pc..pc + kc`, into `out` as panels of `MR` rows, each p-major
/// (`out[panel][p][r]`), rows past `m` zero.
fn pack_a<const MR: usize>(a: Mat, m: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for (ip, panel) in out
        .chunks_exact_mut(MR * kc)
        .take(m.div_ceil(MR))
        .enumerate()
    {
        for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
            for (r, d) in dst.iter_mut().enumerate() {
                let i = ip * MR + r;
                *d = if i < m { a.at(i, pc + p) } else { 0.0 };
            }
        }
    }
}

/// B's rows `pc..pc + kc`, columns `jc..jc + NC` (at most `n`), into `out` as panels of
/// `NR` columns, each p-major (`out[panel][p][c]`), columns past `n` zero.
fn pack_b<const NR: usize>(b: Mat, pc: usize, kc: usize, jc: usize, n: usize, out: &mut [f32]) {
    let panels = NC.min(n - jc).div_ceil(NR);
    for (jp, panel) in out.chunks_exact_mut(NR * kc).take(panels).enumerate() {
        let j0 = jc + jp * NR;
        let width = NR.min(n - j0);
        for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let row = pc + p;
            if b.cs == 1 {
                let start = row * b.rs + j0;
                if width == NR {
                    // A whole row of the panel: a fixed-size copy is vector loads
                    // and stores (a variable one is a call to memcpy, `memory.copy`
                    // in wasm).
                    let src: &[f32; NR] = b.data[start..start + NR].try_into().expect("NR");
                    dst.copy_from_slice(src);
                    continue;
                }
                dst[..width].copy_from_slice(&b.data[start..start + width]);
            } else {
                for (cc, d) in dst[..width].iter_mut().enumerate() {
                    *d = b.at(row, j0 + cc);
                }
            }
            dst[width..].fill(0.0);
        }
    }
}

/// A micro-kernel: the instruction set a tile is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The fastest kernel this machine runs, detected once.
    pub(crate) fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| Kernel::available().pop().unwrap_or(Kernel::Portable))
    }

    /// Every kernel this machine can run, slowest first.
    pub(crate) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                all.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
                all.push(Kernel::Avx512);
            }
        }
        all
    }

    /// The height of its tile.
    fn tile_rows(self) -> usize {
        match self {
            Kernel::Portable => PORTABLE_MR,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 6,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 12,
        }
    }

    /// The width of its tile: [`Rhs::Panels`] are this wide.
    pub(crate) fn tile_cols(self) -> usize {
        match self {
            Kernel::Portable => 8,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 16,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 32,
        }
    }

    /// Its name, as benchmarks print it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512f",
        }
    }
}

/// Threads the CPU path may use; 0 means every core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Limits the threads the CPU path uses (0: every core the process may use): for one
/// product, or for batches run side by side. Results do not depend on it.
pub fn set_cpu_threads(threads: usize) {
    THREADS.store(threads, Ordering::Relaxed);
}

thread_local! {
    /// This thread's own limit (0: none), for a thread that runs whole batches beside
    /// others ([`super::map_batches`]).
    static OWN_THREADS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The threads one product may use.
pub(crate) fn cpu_threads() -> usize {
    match (OWN_THREADS.get(), THREADS.load(Ordering::Relaxed)) {
        (0, 0) => cores(),
        (0, n) => n,
        (own, _) => own,
    }
}

/// Limits this thread's products to `threads` (0: back to [`set_cpu_threads`]'s limit).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn set_own_cpu_threads(threads: usize) {
    OWN_THREADS.set(threads);
}

/// The cores this process may use (1 in the browser: the fallback runs in one worker).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Where the elements of C start.
#[derive(Clone, Copy)]
pub(crate) enum Start<'a> {
    /// At C's values: `C += A·B`.
    Acc,
    /// Row `i` at `bias[i]`, C's values unread: `C = bias + A·B`, the same bits as filling
    /// C with the bias and accumulating (a convolution then writes its output once).
    Bias(&'a [f32]),
}

impl<'a> Start<'a> {
    /// The same start from row `r0` on.
    fn rows_from(self, r0: usize) -> Start<'a> {
        match self {
            Start::Acc => Start::Acc,
            Start::Bias(b) => Start::Bias(&b[r0..]),
        }
    }
}

/// `c[i * ldc + j] = start + Σ_p a(i, p) · b(p, j)` for `i < m`, `j < n`, with this
/// machine's fastest kernel on [`cpu_threads`] threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    b: Rhs,
    c: &mut [f32],
    ldc: usize,
    start: Start,
) {
    gemm_with(Kernel::best(), cpu_threads(), m, n, k, a, b, c, ldc, start);
}

/// [`gemm`] with a given kernel and at most `threads` threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_with(
    kernel: Kernel,
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    b: Rhs,
    c: &mut [f32],
    ldc: usize,
    start: Start,
) {
    // A packed operand is computed with the kernel it was packed for.
    let kernel = match a {
        Lhs::Packed(p, _) => p.kernel,
        Lhs::Mat(_) => kernel,
    };
    if let Rhs::Panels { nr, .. } = b {
        assert_eq!(nr, kernel.tile_cols(), "B packed for another kernel");
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if let Start::Bias(bias) = start {
            for (i, &v) in bias[..m].iter().enumerate() {
                c[i * ldc..i * ldc + n].fill(v);
            }
        }
        return;
    }
    // One row goes through the blocked kernel too (no separate matrix-vector loop): an
    // image's values must not depend on how many images share its batch.
    let by_work = (m * n * k / WORK_PER_THREAD).max(1);
    let parts = threads.min(by_work).min(m.div_ceil(ROW_QUANTUM)).max(1);
    if parts == 1 || cfg!(target_arch = "wasm32") {
        return blocked(kernel, m, n, k, a, b, c, ldc, start);
    }
    let rows = m.div_ceil(parts).div_ceil(ROW_QUANTUM) * ROW_QUANTUM;
    std::thread::scope(|s| {
        let mut rest = c;
        let mut r0 = 0;
        while r0 + rows < m {
            let (mine, next) = rest.split_at_mut(rows * ldc);
            rest = next;
            let (a, start) = (a.rows_from(r0), start.rows_from(r0));
            s.spawn(move || blocked(kernel, rows, n, k, a, b, mine, ldc, start));
            r0 += rows;
        }
        // The last share runs on the calling thread.
        let (a, start) = (a.rows_from(r0), start.rows_from(r0));
        blocked(kernel, m - r0, n, k, a, b, rest, ldc, start);
    });
}

/// The blocked product with `kernel`'s tile. Only the tile is compiled for the kernel's
/// instruction set: the whole loop compiled for AVX-512 with the tile inlined was slower
/// on EfficientNet-Lite0 (its accumulators went through the stack).
#[allow(clippy::too_many_arguments)]
fn blocked(
    kernel: Kernel,
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    b: Rhs,
    c: &mut [f32],
    ldc: usize,
    start: Start,
) {
    match kernel {
        Kernel::Portable => {
            blocked_with::<PORTABLE_MR, 8>(m, n, k, a, b, c, ldc, start, |ap, bp, acc| {
                portable_tile(ap, bp, acc)
            })
        }
        // SAFETY (both arms): `Kernel::available` offers these kernels only where the
        // processor reports the features they are compiled for.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => blocked_with::<6, 16>(m, n, k, a, b, c, ldc, start, |ap, bp, acc| unsafe {
            avx2_tile(ap, bp, acc)
        }),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            blocked_with::<12, 32>(m, n, k, a, b, c, ldc, start, |ap, bp, acc| unsafe {
                avx512_tile(ap, bp, acc)
            })
        }
    }
}

/// The blocked product with an `MR × NR` tile.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn blocked_with<const MR: usize, const NR: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Lhs,
    b: Rhs,
    c: &mut [f32],
    ldc: usize,
    start: Start,
    tile: impl Fn(&[f32], &[f32], &mut [[f32; NR]; MR]),
) {
    let mp = m.div_ceil(MR) * MR;
    // Every packed value a tile reads is written below first, so the buffers are this
    // thread's from its last product, not zeroed afresh (zeroing them was 4 % of
    // EfficientNet-Lite0's time).
    let (mut apack, mut bpack) = PACKS.with_borrow_mut(std::mem::take);
    let a_len = match a {
        Lhs::Mat(_) => mp * KC.min(k),
        Lhs::Packed(..) => 0,
    };
    let b_len = match b {
        Rhs::Mat(_) => NC.min(n).div_ceil(NR) * NR * KC.min(k),
        Rhs::Panels { .. } => 0,
    };
    for (buf, len) in [(&mut apack, a_len), (&mut bpack, b_len)] {
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
    }
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        // A's rows in panels of MR, each panel p-major: [panel][p][r].
        let apanels: &[f32] = match a {
            Lhs::Mat(a) => {
                pack_a::<MR>(a, m, pc, kc, &mut apack);
                &apack
            }
            Lhs::Packed(p, r0) => p.panels(pc, kc, r0),
        };
        // The first depth block writes C from the bias instead of adding to it.
        let bias = match start {
            Start::Bias(bias) if pc == 0 => Some(bias),
            _ => None,
        };
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            let panels = nc.div_ceil(NR);
            // B's columns in panels of NR, each panel p-major: [panel][p][c].
            let (bpanels, stride): (&[f32], usize) = match b {
                Rhs::Mat(b) => {
                    pack_b::<NR>(b, pc, kc, jc, n, &mut bpack);
                    (&bpack, NR * kc)
                }
                Rhs::Panels { data, .. } => (&data[(jc * k + pc * NR)..], NR * k),
            };
            for (ip, ap) in apanels.chunks_exact(MR * kc).take(mp / MR).enumerate() {
                let i0 = ip * MR;
                let rows = MR.min(m - i0);
                for jp in 0..panels {
                    let bp = &bpanels[jp * stride..][..NR * kc];
                    let j0 = jc + jp * NR;
                    let cols = NR.min(n - j0);
                    let mut acc = [[0f32; NR]; MR];
                    tile(ap, bp, &mut acc);
                    for (r, acc_row) in acc.iter().enumerate().take(rows) {
                        let at = (i0 + r) * ldc + j0;
                        let bias = bias.map(|b| b[i0 + r]);
                        if cols == NR {
                            // A whole row of the tile: a loop of fixed length, vectorised.
                            let dst: &mut [f32; NR] =
                                (&mut c[at..at + NR]).try_into().expect("NR values");
                            put(dst, acc_row, bias);
                        } else {
                            put(&mut c[at..at + cols], acc_row, bias);
                        }
                    }
                }
            }
        }
    }
    PACKS.with_borrow_mut(|packs| *packs = (apack, bpack));
}

/// A row of a tile's sums into C: `bias + sum`, or `C + sum` without a bias.
#[inline(always)]
fn put(dst: &mut [f32], acc: &[f32], bias: Option<f32>) {
    let dst = dst.iter_mut().zip(acc);
    match bias {
        Some(b) => dst.for_each(|(d, v)| *d = b + v),
        None => dst.for_each(|(d, v)| *d += v),
    }
}

thread_local! {
    /// This thread's packing buffers for A and B, kept between products.
    static PACKS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Rows of the portable tile: 8 accumulators and the operands fit x86-64's baseline 16
/// vector registers. In wasm, where the engine allocates registers, 4 rows also beat 6 and
/// 8 (the registers spill): 39 against 31 and 27 GFLOP/s on a 512³ product in V8, and
/// less padding for the few output channels of small networks.
const PORTABLE_MR: usize = 4;

/// `acc[r][c] += Σ_p ap[p][r] · bp[p][c]` over a packed panel of A (`[p][r]`) and one of B
/// (`[p][c]`), each product rounded before it is added.
#[cfg(not(target_arch = "wasm32"))]
fn portable_tile(ap: &[f32], bp: &[f32], acc: &mut [[f32; 8]; PORTABLE_MR]) {
    for (a, b) in ap.chunks_exact(PORTABLE_MR).zip(bp.chunks_exact(8)) {
        let a: &[f32; PORTABLE_MR] = a.try_into().expect("chunks of MR");
        let b: &[f32; 8] = b.try_into().expect("chunks of NR");
        for r in 0..PORTABLE_MR {
            for cc in 0..8 {
                acc[r][cc] += a[r] * b[cc];
            }
        }
    }
}

/// [`portable_tile`] in wasm's 128-bit SIMD, written out because LLVM leaves the loop
/// scalar there: the same products and sums in the same order, so the same bits.
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn portable_tile(ap: &[f32], bp: &[f32], acc: &mut [[f32; 8]; PORTABLE_MR]) {
    use core::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128, v128_load, v128_store};
    // SAFETY (every load and store below): each pointer is to 4 floats inside a row of 8
    // (`acc`'s rows, `b`'s chunks); wasm loads and stores allow any alignment.
    let mut v = [[f32x4_splat(0.0); 2]; PORTABLE_MR];
    for (r, row) in acc.iter().enumerate() {
        unsafe {
            v[r][0] = v128_load(row.as_ptr().cast::<v128>());
            v[r][1] = v128_load(row[4..].as_ptr().cast::<v128>());
        }
    }
    for (a, b) in ap.chunks_exact(PORTABLE_MR).zip(bp.chunks_exact(8)) {
        let b: &[f32; 8] = b.try_into().expect("chunks of NR");
        let (b0, b1) = unsafe {
            (
                v128_load(b.as_ptr().cast()),
                v128_load(b[4..].as_ptr().cast()),
            )
        };
        for (vr, &ar) in v.iter_mut().zip(a) {
            let ar = f32x4_splat(ar);
            vr[0] = f32x4_add(vr[0], f32x4_mul(ar, b0));
            vr[1] = f32x4_add(vr[1], f32x4_mul(ar, b1));
        }
    }
    for (row, vr) in acc.iter_mut().zip(&v) {
        unsafe {
            v128_store(row.as_mut_ptr().cast::<v128>(), vr[0]);
            v128_store(row[4..].as_mut_ptr().cast::<v128>(), vr[1]);
        }
    }
}

/// [`portable_tile`] with fused multiply-adds, for the target-feature kernels to inline.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn fma_tile<const MR: usize, const NR: usize>(ap: &[f32], bp: &[f32], acc: &mut [[f32; NR]; MR]) {
    for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let a: &[f32; MR] = a.try_into().expect("chunks of MR");
        let b: &[f32; NR] = b.try_into().expect("chunks of NR");
        for r in 0..MR {
            for cc in 0..NR {
                acc[r][cc] = a[r].mul_add(b[cc], acc[r][cc]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_tile(ap: &[f32], bp: &[f32], acc: &mut [[f32; 16]; 6]) {
    fma_tile(ap, bp, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn avx512_tile(ap: &[f32], bp: &[f32], acc: &mut [[f32; 32]; 12]) {
    fma_tile(ap, bp, acc);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::fast::tests::{close, values};

    #[test]
    fn gemm_matches_the_naive_loop() {
        for (i, (m, n, k)) in [
            (1, 7, 5),
            (1, 300, 600),
            (5, 3, 2),
            (13, 270, 300),
            (4, 8, 256),
            (37, 9, 1),
            // Enough work for three threads, with a share that is not whole tiles.
            (101, 317, 300),
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
                let mut fused: Option<Vec<f32>> = None;
                for kernel in Kernel::available() {
                    for threads in [1, 3] {
                        let mut got = vec![0f32; m * n];
                        gemm_with(
                            kernel,
                            threads,
                            m,
                            n,
                            k,
                            Lhs::Mat(am),
                            Rhs::Mat(bm),
                            &mut got,
                            n,
                            Start::Acc,
                        );
                        let what = format!(
                            "{m}x{k} · {k}x{n}, transposed {ta} {tb}, {} on {threads}",
                            kernel.name()
                        );
                        close(&what, &got, &want);
                        if kernel == Kernel::Portable {
                            continue;
                        }
                        // The fused kernels and every split give the same bits.
                        match &fused {
                            Some(first) => assert!(
                                first
                                    .iter()
                                    .zip(&got)
                                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                                "{what}: not the bits of the first fused kernel"
                            ),
                            None => fused = Some(got),
                        }
                    }
                }
            }
        }
    }

    /// Starting C at a bias gives the bits of filling C with it and accumulating, with
    /// depth over one block and under it, split over threads or not, and with no depth.
    #[test]
    fn a_bias_start_is_a_fill_then_a_sum() {
        for (m, n, k, ldc) in [
            (13, 40, 300, 45),
            (30, 9, 7, 9),
            (5, 3, 0, 4),
            (101, 317, 300, 317),
        ] {
            let a = values(1, m * k);
            let b = values(2, k * n);
            let bias = values(3, m);
            let am = Lhs::Mat(Mat {
                data: &a,
                rs: k,
                cs: 1,
            });
            let bm = Rhs::Mat(Mat {
                data: &b,
                rs: n,
                cs: 1,
            });
            for kernel in Kernel::available() {
                for threads in [1, 3] {
                    let mut want = vec![7.0f32; m * ldc];
                    for (row, &v) in want.chunks_exact_mut(ldc).zip(&bias) {
                        row[..n].fill(v);
                    }
                    gemm_with(kernel, threads, m, n, k, am, bm, &mut want, ldc, Start::Acc);
                    let mut got = vec![7.0f32; m * ldc];
                    let start = Start::Bias(&bias);
                    gemm_with(kernel, threads, m, n, k, am, bm, &mut got, ldc, start);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{m}x{k} · {k}x{n}, {} on {threads}",
                        kernel.name()
                    );
                }
            }
        }
    }

    /// Operands packed once (A: weights; B: in panels, as im2col writes them) give the bits
    /// of the same operands packed at each product, for every kernel, split over threads
    /// or not, over several depth blocks and column blocks, transposed or not.
    #[test]
    fn packed_once_is_packed_each_time() {
        for (m, n, k) in [(101, 317, 300), (13, 40, 600), (5, 3, 2), (24, 9, 256)] {
            let a = values(4, m * k);
            let b = values(5, k * n);
            let bias = values(6, m);
            let bm = Mat {
                data: &b,
                rs: n,
                cs: 1,
            };
            for am in [
                Mat {
                    data: &a,
                    rs: k,
                    cs: 1,
                },
                Mat {
                    data: &a,
                    rs: 1,
                    cs: m,
                },
            ] {
                for kernel in Kernel::available() {
                    let packed = Packed::with(kernel, m, k, am);
                    let nr = kernel.tile_cols();
                    // NaN where the last panel runs past B's columns: C must not see it.
                    let mut panels = vec![0f32; n.div_ceil(nr) * nr * k];
                    for (q, panel) in panels.chunks_exact_mut(nr * k).enumerate() {
                        for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
                            for (c, v) in row.iter_mut().enumerate() {
                                let j = q * nr + c;
                                *v = if j < n { bm.at(p, j) } else { f32::NAN };
                            }
                        }
                    }
                    let bp = Rhs::Panels { data: &panels, nr };
                    for threads in [1, 3] {
                        let run = |a: Lhs, b: Rhs| {
                            let mut c = vec![0f32; m * n];
                            let start = Start::Bias(&bias);
                            gemm_with(kernel, threads, m, n, k, a, b, &mut c, n, start);
                            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                        };
                        let want = run(Lhs::Mat(am), Rhs::Mat(bm));
                        for (what, a, b) in [
                            ("A packed", Lhs::Packed(&packed, 0), Rhs::Mat(bm)),
                            ("B in panels", Lhs::Mat(am), bp),
                            ("both", Lhs::Packed(&packed, 0), bp),
                        ] {
                            assert!(
                                run(a, b) == want,
                                "{what}: {m}x{k} · {k}x{n}, A strides {} {}, {} on {threads}",
                                am.rs,
                                am.cs,
                                kernel.name()
                            );
                        }
                    }
                }
            }
        }
    }
}
