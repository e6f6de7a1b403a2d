//! The Machine Interpretability Score (MIS; Zimmermann, Klindt & Brendel, NeurIPS 2024): the
//! paradigm's 2-AFC trial solved by an image-similarity model instead of a person.
//!
//! For a trial with max references E⁺, min references E⁻, max query q⁺ and min query q⁻,
//! and an image encoder f: s(q, E) = mean over e ∈ E of cos(f(q), f(e));
//! Δ = [s(q⁺, E⁺) − s(q⁺, E⁻)] − [s(q⁻, E⁺) − s(q⁻, E⁻)]. The machine "answers" correctly
//! with probability σ(α·Δ); a unit's MIS is the mean of that over its trials (batches).
//!
//! α sets how sharply Δ becomes confidence. There is no default α here: without one, a
//! trial counts 1 when Δ > 0 and 0 otherwise, and the score is the share of trials the
//! machine gets right ([`Alpha::None`]). A study with human answers fits its own α by
//! maximum likelihood ([`fit_alpha`]), which is what `exemplar analyze` reports beside
//! each unit's proportion correct.
//!
//! Sums run in f64 in a fixed order, so the browser (wasm32) and the command line give the
//! same numbers for the same embeddings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The embeddings of one trial's images (each a flat vector, all of one length).
#[derive(Clone, Copy, Debug)]
pub struct TrialEmbeddings<'a> {
    /// `max_0..8`.
    pub max_references: &'a [&'a [f32]],
    /// `min_0..8`.
    pub min_references: &'a [&'a [f32]],
    /// `max_9`: the correct answer.
    pub max_query: &'a [f32],
    /// `min_9`.
    pub min_query: &'a [f32],
}

/// Why a trial cannot be scored.
#[derive(Clone, Debug, PartialEq)]
pub enum MisError {
    /// Two embeddings of a trial differ in length.
    Lengths(usize, usize),
    /// An embedding is all zeros (its cosine is undefined) or not finite.
    Degenerate,
    /// A side has no reference.
    NoReferences,
    /// Not one embedding per image of the trial: (embeddings, images).
    Count(usize, usize),
}

impl fmt::Display for MisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MisError::Lengths(a, b) => write!(f, "embeddings of different lengths ({a} and {b})"),
            MisError::Count(got, want) => {
                write!(f, "{got} embeddings for a trial of {want} images")
            }
            MisError::Degenerate => f.write_str(
                "an embedding is all zeros or not finite: its cosine similarity is undefined",
            ),
            MisError::NoReferences => f.write_str("a side has no reference image"),
        }
    }
}

impl std::error::Error for MisError {}

/// The cosine of the angle between `a` and `b`.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f64, MisError> {
    if a.len() != b.len() {
        return Err(MisError::Lengths(a.len(), b.len()));
    }
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norm = (aa * bb).sqrt();
    if norm == 0.0 || !norm.is_finite() || !ab.is_finite() {
        return Err(MisError::Degenerate);
    }
    Ok(ab / norm)
}

/// s(q, E): the mean cosine similarity of the query to the references.
pub fn similarity(query: &[f32], references: &[&[f32]]) -> Result<f64, MisError> {
    if references.is_empty() {
        return Err(MisError::NoReferences);
    }
    let mut sum = 0.0;
    for r in references {
        sum += cosine(query, r)?;
    }
    Ok(sum / references.len() as f64)
}

/// One trial as the machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialScore {
    /// s(q⁺, E⁺).
    pub max_query_to_max: f64,
    /// s(q⁺, E⁻).
    pub max_query_to_min: f64,
    /// s(q⁻, E⁺).
    pub min_query_to_max: f64,
    /// s(q⁻, E⁻).
    pub min_query_to_min: f64,
    /// Δ: positive when the machine would pick the max query.
    pub delta: f64,
}

/// Where a trial's predicted accuracy lies outside a study's bounds
/// (`checks.encoder.min_predicted`, `max_predicted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difficulty {
    /// Below the lower bound.
    TooHard,
    /// Above the upper bound.
    TooEasy,
}

impl Difficulty {
    /// Words for the researcher.
    pub fn describe(self) -> &'static str {
        match self {
            Difficulty::TooHard => "too hard for the machine",
            Difficulty::TooEasy => "too easy for the machine",
        }
    }
}

/// The bound `predicted` falls outside of, if any.
pub fn difficulty(predicted: f64, min: Option<f64>, max: Option<f64>) -> Option<Difficulty> {
    if min.is_some_and(|m| predicted < m) {
        Some(Difficulty::TooHard)
    } else if max.is_some_and(|m| predicted > m) {
        Some(Difficulty::TooEasy)
    } else {
        None
    }
}

/// [`score_trial`] of a trial's embeddings in the order the checks take its images: the
/// `min_refs` min references, the `max_refs` max references, the min query, the max query.
pub fn score_ordered(
    embeddings: &[Vec<f32>],
    min_refs: usize,
    max_refs: usize,
) -> Result<TrialScore, MisError> {
    let want = min_refs + max_refs + 2;
    if embeddings.len() != want {
        return Err(MisError::Count(embeddings.len(), want));
    }
    let all: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
    let (min_references, rest) = all.split_at(min_refs);
    let (max_references, queries) = rest.split_at(max_refs);
    score_trial(&TrialEmbeddings {
        max_references,
        min_references,
        max_query: queries[1],
        min_query: queries[0],
    })
}

/// The four similarities and Δ of a trial.
pub fn score_trial(t: &TrialEmbeddings) -> Result<TrialScore, MisError> {
    let max_query_to_max = similarity(t.max_query, t.max_references)?;
    let max_query_to_min = similarity(t.max_query, t.min_references)?;
    let min_query_to_max = similarity(t.min_query, t.max_references)?;
    let min_query_to_min = similarity(t.min_query, t.min_references)?;
    Ok(TrialScore {
        max_query_to_max,
        max_query_to_min,
        min_query_to_max,
        min_query_to_min,
        delta: (max_query_to_max - max_query_to_min) - (min_query_to_max - min_query_to_min),
    })
}

/// How Δ becomes the probability of a correct answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Alpha {
    /// 1 when Δ > 0, else 0: the share of trials the machine gets right.
    None,
    /// σ(α·Δ).
    Value(f64),
}

/// The logistic function, without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The probability that the machine answers a trial with this Δ correctly.
pub fn predicted(delta: f64, alpha: Alpha) -> f64 {
    match alpha {
        Alpha::None => {
            if delta > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Alpha::Value(a) => sigmoid(a * delta),
    }
}

/// A unit's MIS: the mean predicted probability over its trials (`None` without trials).
pub fn unit_score(deltas: &[f64], alpha: Alpha) -> Option<f64> {
    if deltas.is_empty() {
        return None;
    }
    Some(deltas.iter().map(|&d| predicted(d, alpha)).sum::<f64>() / deltas.len() as f64)
}

/// Why α cannot be fitted.
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// Different numbers of Δ and answers.
    Lengths(usize, usize),
    /// No trial has Δ ≠ 0: every α fits equally.
    Undetermined,
    /// The answers follow the sign of Δ without exception (or against it): the likelihood
    /// grows without bound as α does.
    Separable,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::Lengths(a, b) => write!(f, "{a} trials but {b} answers"),
            FitError::Undetermined => f.write_str("no trial with Δ ≠ 0: α is not determined"),
            FitError::Separable => f.write_str(
                "every answer agrees with the sign of Δ (or every one disagrees): α grows without bound",
            ),
        }
    }
}

impl std::error::Error for FitError {}

/// The α that makes the answers most likely: maximises Σ log P(answer | σ(α·Δ)) over the
/// trials (`correct[i]` answers the trial with `deltas[i]`). The log-likelihood is concave
/// in α, so Newton's method (with halving steps) finds its one maximum.
pub fn fit_alpha(deltas: &[f64], correct: &[bool]) -> Result<f64, FitError> {
    if deltas.len() != correct.len() {
        return Err(FitError::Lengths(deltas.len(), correct.len()));
    }
    let informative: Vec<(f64, bool)> = deltas
        .iter()
        .zip(correct)
        .filter(|(d, _)| **d != 0.0 && d.is_finite())
        .map(|(&d, &c)| (d, c))
        .collect();
    if informative.is_empty() {
        return Err(FitError::Undetermined);
    }
    // Separable: every answer on the side Δ predicts, or every one on the other.
    let agrees = |(d, c): &(f64, bool)| (*d > 0.0) == *c;
    if informative.iter().all(agrees) || !informative.iter().any(agrees) {
        return Err(FitError::Separable);
    }
    let log_likelihood = |a: f64| -> f64 {
        informative
            .iter()
            .map(|&(d, c)| {
                // log σ(z) = −log(1 + e^−z), computed stably.
                let z = if c { a * d } else { -a * d };
                -softplus(-z)
            })
            .sum()
    };
    let mut a = 0.0f64;
    let mut current = log_likelihood(a);
    for _ in 0..200 {
        let (mut grad, mut hess) = (0.0, 0.0);
        for &(d, c) in &informative {
            let p = sigmoid(a * d);
            grad += d * (f64::from(u8::from(c)) - p);
            hess -= d * d * p * (1.0 - p);
        }
        if grad.abs() < 1e-12 || hess >= 0.0 {
            break;
        }
        let mut step = -grad / hess;
        let mut next = a + step;
        let mut value = log_likelihood(next);
        while value < current && step.abs() > 1e-15 {
            step /= 2.0;
            next = a + step;
            value = log_likelihood(next);
        }
        if (next - a).abs() <= 1e-12 * a.abs().max(1.0) {
            a = next;
            break;
        }
        a = next;
        current = value;
    }
    Ok(a)
}

/// log(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_and_similarity_in_closed_form() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]).unwrap(), 0.0);
        assert!((cosine(&[1.0, 1.0], &[2.0, 0.0]).unwrap() - 0.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(cosine(&[3.0, 4.0], &[-6.0, -8.0]).unwrap(), -1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), Err(MisError::Degenerate));
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), Err(MisError::Lengths(1, 2)));
        assert_eq!(
            cosine(&[f32::NAN, 1.0], &[1.0, 0.0]),
            Err(MisError::Degenerate)
        );
        // Mean over the references: cos 0 and cos 90°.
        let refs: [&[f32]; 2] = [&[1.0, 0.0], &[0.0, 5.0]];
        assert_eq!(similarity(&[2.0, 0.0], &refs).unwrap(), 0.5);
        assert_eq!(similarity(&[2.0, 0.0], &[]), Err(MisError::NoReferences));
    }

    /// Embeddings on the unit circle at known angles: every similarity is a cosine of a
    /// known angle, so Δ is known exactly.
    #[test]
    fn delta_on_a_hand_computed_trial() {
        let at = |deg: f64| -> Vec<f32> {
            let r = deg.to_radians();
            vec![r.cos() as f32, r.sin() as f32]
        };
        let (e_max, e_min) = ([at(0.0), at(20.0)], [at(90.0), at(110.0)]);
        let max_refs: Vec<&[f32]> = e_max.iter().map(Vec::as_slice).collect();
        let min_refs: Vec<&[f32]> = e_min.iter().map(Vec::as_slice).collect();
        let (q_max, q_min) = (at(10.0), at(100.0));
        let t = TrialEmbeddings {
            max_references: &max_refs,
            min_references: &min_refs,
            max_query: &q_max,
            min_query: &q_min,
        };
        let s = score_trial(&t).unwrap();
        let c = |deg: f64| deg.to_radians().cos();
        let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        close(s.max_query_to_max, c(10.0)); // both references 10° away
        close(s.max_query_to_min, (c(80.0) + c(100.0)) / 2.0);
        close(s.min_query_to_max, (c(100.0) + c(80.0)) / 2.0);
        close(s.min_query_to_min, c(10.0));
        close(s.delta, 2.0 * c(10.0) - (c(80.0) + c(100.0)));
        assert!(s.delta > 0.0, "the machine picks the max query");
        // Queries swapped: Δ changes sign exactly.
        let swapped = TrialEmbeddings {
            max_query: &q_min,
            min_query: &q_max,
            ..t
        };
        assert_eq!(score_trial(&swapped).unwrap().delta, -s.delta);
    }

    #[test]
    fn predicted_probability_and_unit_score() {
        assert_eq!(predicted(0.3, Alpha::None), 1.0);
        assert_eq!(predicted(0.0, Alpha::None), 0.0);
        assert_eq!(predicted(-0.1, Alpha::None), 0.0);
        assert_eq!(predicted(0.0, Alpha::Value(7.0)), 0.5);
        let want = 1.0 / (1.0 + (-2.0f64 * 0.5).exp());
        assert!((predicted(0.5, Alpha::Value(2.0)) - want).abs() < 1e-15);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(unit_score(&[0.2, -0.1, 0.4, 0.0], Alpha::None), Some(0.5));
        assert_eq!(unit_score(&[], Alpha::None), None);
        let mean = (sigmoid(0.2) + sigmoid(-0.1)) / 2.0;
        assert!((unit_score(&[0.2, -0.1], Alpha::Value(1.0)).unwrap() - mean).abs() < 1e-15);
    }

    /// Answers drawn with a known α are fitted back to it (within the sampling error of
    /// 20,000 trials), and the cases without a finite maximum are refused.
    #[test]
    fn alpha_fit_recovers_a_known_alpha() {
        let mut rng = crate::rng::Rng::new(0x5eed);
        for true_alpha in [3.0, 12.0, 40.0] {
            let mut deltas = Vec::new();
            let mut correct = Vec::new();
            for _ in 0..20_000 {
                // Δ spread over [−0.3, 0.3].
                let d = (rng.below(600_001) as f64 - 300_000.0) / 1_000_000.0;
                let u = rng.below(1_000_000_000) as f64 / 1e9;
                deltas.push(d);
                correct.push(u < sigmoid(true_alpha * d));
            }
            let fitted = fit_alpha(&deltas, &correct).unwrap();
            assert!(
                (fitted - true_alpha).abs() < 0.06 * true_alpha,
                "α {true_alpha}: fitted {fitted}"
            );
        }
        assert_eq!(
            fit_alpha(&[0.1, -0.2], &[true, false]),
            Err(FitError::Separable)
        );
        assert_eq!(
            fit_alpha(&[0.1, -0.2], &[false, true]),
            Err(FitError::Separable)
        );
        assert_eq!(
            fit_alpha(&[0.0, 0.0], &[true, false]),
            Err(FitError::Undetermined)
        );
        assert_eq!(
            fit_alpha(&[0.1], &[true, false]),
            Err(FitError::Lengths(1, 2))
        );
    }

    #[test]
    fn ordered_embeddings_score_as_the_trial_does() {
        let e = |x: f32, y: f32| vec![x, y];
        // min refs, max refs, min query, max query.
        let all = vec![
            e(0.0, 1.0),
            e(0.1, 1.0),
            e(1.0, 0.0),
            e(0.0, 1.0),
            e(1.0, 0.1),
        ];
        let got = score_ordered(&all, 2, 1).unwrap();
        let (min_refs, max_refs) = ([&all[0][..], &all[1][..]], [&all[2][..]]);
        let want = score_trial(&TrialEmbeddings {
            max_references: &max_refs,
            min_references: &min_refs,
            max_query: &all[4],
            min_query: &all[3],
        })
        .unwrap();
        assert_eq!(got, want);
        assert!(got.delta > 0.0);
        assert_eq!(score_ordered(&all, 2, 2), Err(MisError::Count(5, 6)));
    }
}
