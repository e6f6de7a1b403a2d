//! The statistics the paradigm's scoring needs, written out so that a study's numbers do
//! not change with a dependency's version: special functions (log-gamma, regularized
//! incomplete gamma and beta), the chi-square and Student-t distributions, ranks,
//! Kruskal–Wallis, Conover's post-hoc test, Holm's correction, quantiles and the
//! percentile bootstrap.
//!
//! The incomplete gamma and beta functions follow Numerical Recipes (3rd ed., §6.2 and
//! §6.4): a series where it converges fast, otherwise a continued fraction evaluated by the
//! modified Lentz method. Tests compare them with SciPy (`scipy.special`) to 1e-9.

use exemplar_core::rng::Rng;
use serde::Serialize;

/// Stop a series or continued fraction once a term changes the result by less than this.
const EPS: f64 = f64::EPSILON;
/// Stands in for zero in Lentz's method so no denominator vanishes.
const FPMIN: f64 = f64::MIN_POSITIVE / EPS;
/// Iteration cap: convergence takes O(√a) steps, far fewer than this for any sample here.
const MAX_ITER: usize = 100_000;

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error about 1e-15),
/// with the reflection formula below 0.5.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized lower incomplete gamma function P(a, x) = γ(a, x) / Γ(a), a > 0, x ≥ 0.
/// NaN outside the domain.
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        0.0
    } else if x.is_infinite() {
        1.0
    } else if x < a + 1.0 {
        gamma_series(a, x)
    } else {
        1.0 - gamma_continued_fraction(a, x)
    }
}

/// The regularized upper incomplete gamma function Q(a, x) = 1 − P(a, x), computed
/// directly in the upper tail so small values keep their relative precision.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || a <= 0.0 || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        1.0
    } else if x.is_infinite() {
        0.0
    } else if x < a + 1.0 {
        1.0 - gamma_series(a, x)
    } else {
        gamma_continued_fraction(a, x)
    }
}

/// e^(−x) x^a / Γ(a), the prefactor of both expansions.
fn gamma_prefactor(a: f64, x: f64) -> f64 {
    (a * x.ln() - x - ln_gamma(a)).exp()
}

/// P(a, x) by its series (NR `gser`); converges fast for x < a + 1.
fn gamma_series(a: f64, x: f64) -> f64 {
    let mut ap = a;
    let mut del = 1.0 / a;
    let mut sum = del;
    for _ in 0..MAX_ITER {
        ap += 1.0;
        del *= x / ap;
        sum += del;
        if del.abs() < sum.abs() * EPS {
            break;
        }
    }
    sum * gamma_prefactor(a, x)
}

/// Q(a, x) by its continued fraction (NR `gcf`, modified Lentz); for x ≥ a + 1.
fn gamma_continued_fraction(a: f64, x: f64) -> f64 {
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / FPMIN;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITER {
        let i = i as f64;
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = b + an / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() <= EPS {
            break;
        }
    }
    gamma_prefactor(a, x) * h
}

/// The regularized incomplete beta function I_x(a, b), a > 0, b > 0, 0 ≤ x ≤ 1 (NR
/// `betai`): the continued fraction on whichever side of the mean converges fast, with
/// I_x(a, b) = 1 − I_(1−x)(b, a) for the other. NaN outside the domain.
pub fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    if a.is_nan() || b.is_nan() || x.is_nan() || a <= 0.0 || b <= 0.0 || !(0.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if x == 0.0 {
        return 0.0;
    }
    if x == 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (NR `betacf`, modified Lentz).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < FPMIN {
        d = FPMIN;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        // Even step.
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        h *= d * c;
        // Odd step.
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() <= EPS {
            break;
        }
    }
    h
}

/// P(X > x) for X chi-square distributed with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return if x.is_nan() { f64::NAN } else { 1.0 };
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// P(T > t) for T Student-t distributed with `df` degrees of freedom.
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    // P(|T| > |t|) = I_(df / (df + t²))(df/2, 1/2); written so that t² cannot overflow.
    let x = if t.is_infinite() {
        0.0
    } else {
        let r = df / (t * t);
        r / (r + 1.0)
    };
    let two_sided = if t == 0.0 {
        1.0
    } else {
        beta_reg(df / 2.0, 0.5, x)
    };
    if t >= 0.0 {
        0.5 * two_sided
    } else {
        1.0 - 0.5 * two_sided
    }
}

/// Ranks from 1, ties given the mean of the ranks they span (SciPy's `rankdata`,
/// `method='average'`). NaN sorts last.
pub fn rank_average(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) hold ranks start+1..=end; their mean:
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// The tie correction factor 1 − Σ(t³ − t) / (N³ − N) over groups of t equal values.
fn tie_correction(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    if n < 2.0 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end] == sorted[start] {
            end += 1;
        }
        let t = (end - start) as f64;
        sum += t * t * t - t;
        start = end;
    }
    1.0 - sum / (n * n * n - n)
}

/// The Kruskal–Wallis H test: do k independent samples come from one distribution?
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KruskalWallis {
    /// H, divided by the tie correction (as `scipy.stats.kruskal` reports it).
    pub h: f64,
    /// k − 1.
    pub df: f64,
    /// P(χ²(df) > H): the asymptotic p-value.
    pub p: f64,
    /// Observations in all groups.
    pub n: usize,
    /// Groups.
    pub k: usize,
}

/// Pooled ranks, per-group rank sums and the tie-corrected H; shared by Kruskal–Wallis and
/// Conover so that both see the same numbers.
struct RankedGroups {
    ranks: Vec<f64>,
    rank_sums: Vec<f64>,
    sizes: Vec<f64>,
    n: f64,
    h: f64,
}

fn rank_groups(groups: &[Vec<f64>]) -> Option<RankedGroups> {
    if groups.len() < 2 || groups.iter().any(|g| g.is_empty()) {
        return None;
    }
    let pooled: Vec<f64> = groups.iter().flatten().copied().collect();
    if pooled.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let ranks = rank_average(&pooled);
    let ties = tie_correction(&pooled);
    if ties <= 0.0 {
        // Every value equal: no ranking information.
        return None;
    }
    let n = pooled.len() as f64;
    let mut rank_sums = Vec::with_capacity(groups.len());
    let mut offset = 0;
    for g in groups {
        rank_sums.push(ranks[offset..offset + g.len()].iter().sum::<f64>());
        offset += g.len();
    }
    let sizes: Vec<f64> = groups.iter().map(|g| g.len() as f64).collect();
    let h_raw = 12.0 / (n * (n + 1.0))
        * rank_sums
            .iter()
            .zip(&sizes)
            .map(|(r, s)| r * r / s)
            .sum::<f64>()
        - 3.0 * (n + 1.0);
    Some(RankedGroups {
        ranks,
        rank_sums,
        sizes,
        n,
        h: h_raw / ties,
    })
}

/// Kruskal–Wallis across `groups` (tie-corrected H, chi-square p-value with k − 1 df), as
/// `scipy.stats.kruskal`. `None` with fewer than two groups, an empty group, a non-finite
/// value, or all values equal.
pub fn kruskal_wallis(groups: &[Vec<f64>]) -> Option<KruskalWallis> {
    let r = rank_groups(groups)?;
    let df = (groups.len() - 1) as f64;
    Some(KruskalWallis {
        h: r.h,
        df,
        p: chi2_sf(r.h, df),
        n: r.n as usize,
        k: groups.len(),
    })
}

/// One pair of Conover's post-hoc test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConoverPair {
    /// Index of the first group.
    pub i: usize,
    /// Index of the second group.
    pub j: usize,
    /// Mean rank of group i minus mean rank of group j (pooled ranks).
    pub mean_rank_difference: f64,
    /// The Conover–Iman t statistic, |R̄ᵢ − R̄ⱼ| / √(S² (N − 1 − H) / (N − k) (1/nᵢ + 1/nⱼ)).
    pub t: f64,
    /// N − k.
    pub df: f64,
    /// Two-sided p-value, 2 P(T > t).
    pub p: f64,
    /// Holm-adjusted p-value over all k(k − 1)/2 pairs.
    pub p_holm: f64,
}

/// Conover's post-hoc test after Kruskal–Wallis, every pair of groups, Holm-adjusted.
///
/// The variant is the one of scikit-posthocs' `posthoc_conover` (and of R's PMCMR /
/// `conover.test`): pooled average ranks; S² = (Σ r² − N (N + 1)² / 4) / (N − 1), which is
/// N (N + 1) / 12 without ties; H the tie-corrected Kruskal–Wallis statistic;
/// t = |R̄ᵢ − R̄ⱼ| / √(S² · (N − 1 − H) / (N − k) · (1/nᵢ + 1/nⱼ)) on N − k degrees of
/// freedom, p two-sided; then Holm's step-down adjustment as statsmodels' `multipletests`
/// (`method='holm'`). Pairs are in the order (0,1), (0,2), …, (1,2), …. `None` where
/// Kruskal–Wallis is undefined or N = k.
pub fn conover(groups: &[Vec<f64>]) -> Option<Vec<ConoverPair>> {
    let r = rank_groups(groups)?;
    let k = groups.len() as f64;
    let n = r.n;
    if n <= k {
        return None;
    }
    let sum_sq: f64 = r.ranks.iter().map(|x| x * x).sum();
    let s2 = (sum_sq - n * (n + 1.0) * (n + 1.0) / 4.0) / (n - 1.0);
    let d = (n - 1.0 - r.h) / (n - k);
    let df = n - k;
    let mut pairs = Vec::new();
    for i in 0..groups.len() {
        for j in i + 1..groups.len() {
            let diff = r.rank_sums[i] / r.sizes[i] - r.rank_sums[j] / r.sizes[j];
            let scale = (s2 * d * (1.0 / r.sizes[i] + 1.0 / r.sizes[j])).sqrt();
            let t = if scale > 0.0 {
                diff.abs() / scale
            } else if diff == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            pairs.push(ConoverPair {
                i,
                j,
                mean_rank_difference: diff,
                t,
                df,
                p: (2.0 * t_sf(t, df)).min(1.0),
                p_holm: f64::NAN,
            });
        }
    }
    let adjusted = holm(&pairs.iter().map(|p| p.p).collect::<Vec<_>>());
    for (pair, p) in pairs.iter_mut().zip(adjusted) {
        pair.p_holm = p;
    }
    Some(pairs)
}

/// Holm's step-down adjustment: sorted ascending, p₍ᵢ₎ · (m − i + 1), made monotone by a
/// running maximum and capped at 1 (statsmodels `multipletests(method='holm')`). Returns
/// the adjusted values in the input's order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let adjusted = p[i] * (m - rank) as f64;
        running = running.max(adjusted);
        out[i] = running.min(1.0);
    }
    out
}

/// The q-quantile of sorted data by linear interpolation between order statistics
/// (Hyndman & Fan type 7, NumPy's default). `None` for empty data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Arithmetic mean; `None` for empty data.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Sample standard deviation (n − 1 denominator); `None` below two values.
pub fn sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    Some((ss / (values.len() - 1) as f64).sqrt())
}

/// A percentile bootstrap confidence interval of a mean.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootstrapCi {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Coverage, e.g. 0.95.
    pub level: f64,
}

/// Percentile bootstrap CI of the mean of `values`: `resamples` samples of the same size
/// drawn with replacement (indices uniform by [`Rng::below`], no modulo bias), their means
/// sorted, and the (1 − level)/2 and (1 + level)/2 quantiles taken by
/// [`quantile_sorted`]. The generator is exemplar-core's SplitMix64-seeded xoshiro256**,
/// so equal inputs and seeds give equal intervals on every platform and version. `None`
/// for empty data or zero resamples.
pub fn bootstrap_mean_ci(
    values: &[f64],
    resamples: usize,
    level: f64,
    rng: &mut Rng,
) -> Option<BootstrapCi> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let n = values.len();
    let mut means = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut sum = 0.0;
        for _ in 0..n {
            sum += values[rng.below(n as u64) as usize];
        }
        means.push(sum / n as f64);
    }
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(BootstrapCi {
        low: quantile_sorted(&means, alpha)?,
        high: quantile_sorted(&means, 1.0 - alpha)?,
        resamples,
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1e-300),
            "{a} vs {b} (rel. tol {tol})"
        );
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        close(ln_gamma(1.0).exp(), 1.0, 1e-14);
        close(ln_gamma(5.0).exp(), 24.0, 1e-13);
        close(ln_gamma(0.5).exp(), std::f64::consts::PI.sqrt(), 1e-14);
        // ln 100! = ln Γ(101)
        close(ln_gamma(101.0), 363.739_375_555_563_5, 1e-14);
        close(ln_gamma(0.1).exp(), 9.513_507_698_668_732, 1e-13);
    }

    #[test]
    fn incomplete_gamma_closed_forms() {
        // P(1, x) = 1 − e^(−x); Q(1, x) = e^(−x), also deep in the tail.
        for x in [0.01, 0.5, 1.0, 3.0, 10.0, 50.0] {
            close(gamma_p(1.0, x), 1.0 - (-x).exp(), 1e-13);
            close(gamma_q(1.0, x), (-x).exp(), 1e-12);
        }
        // P(1/2, x) = erf(√x): erf(1) = 0.8427007929497149.
        close(gamma_p(0.5, 1.0), 0.842_700_792_949_714_9, 1e-14);
        // chi-square critical values: P(χ²₁ > 3.841458820694124) = 0.05,
        // P(χ²₂ > 5.991464547107979) = 0.05, P(χ²₁₀ > 18.307038053275146) = 0.05.
        close(chi2_sf(3.841_458_820_694_124, 1.0), 0.05, 1e-12);
        close(chi2_sf(5.991_464_547_107_979, 2.0), 0.05, 1e-12);
        close(chi2_sf(18.307_038_053_275_146, 10.0), 0.05, 1e-12);
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
    }

    #[test]
    fn incomplete_beta_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
        for x in [0.001, 0.2, 0.5, 0.77, 0.999] {
            close(beta_reg(1.0, 1.0, x), x, 1e-13);
            close(beta_reg(3.5, 1.0, x), x.powf(3.5), 1e-12);
            close(beta_reg(1.0, 4.0, x), 1.0 - (1.0 - x).powi(4), 1e-12);
        }
        // Symmetry I_x(a, b) = 1 − I_(1−x)(b, a).
        close(
            beta_reg(2.5, 7.0, 0.3),
            1.0 - beta_reg(7.0, 2.5, 0.7),
            1e-13,
        );
    }

    #[test]
    fn student_t_critical_values() {
        // t₀.₉₇₅ with 10 df = 2.228138851986274; with 1 df (Cauchy) P(T > 1) = 1/4.
        close(t_sf(2.228_138_851_986_274, 10.0), 0.025, 1e-12);
        close(t_sf(1.0, 1.0), 0.25, 1e-13);
        close(t_sf(-1.0, 1.0), 0.75, 1e-13);
        assert_eq!(t_sf(0.0, 5.0), 0.5);
        assert_eq!(t_sf(f64::INFINITY, 5.0), 0.0);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            rank_average(&[3.0, 1.0, 4.0, 1.0, 5.0]),
            vec![3.0, 1.5, 4.0, 1.5, 5.0]
        );
        assert_eq!(rank_average(&[2.0, 2.0, 2.0]), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn holm_matches_a_hand_computation() {
        // Sorted 0.01, 0.02, 0.04 → ×3, ×2, ×1 = 0.03, 0.04, 0.04 (running max).
        assert_eq!(holm(&[0.04, 0.01, 0.02]), vec![0.04, 0.03, 0.04]);
        assert_eq!(holm(&[0.6, 0.5]), vec![1.0, 1.0]);
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let data = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&data, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&data, 0.5), Some(2.5));
        assert_eq!(quantile_sorted(&data, 0.25), Some(1.75));
        assert_eq!(quantile_sorted(&data, 1.0), Some(4.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }
}
