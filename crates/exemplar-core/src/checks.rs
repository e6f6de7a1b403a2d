//! Stimulus checks: does a trial's "maximally activating" query really activate its unit
//! more than the "minimally activating" one, and do the references say the same?
//!
//! The engine computes the activations (in the browser or natively); the verdict is
//! decided here, so the preview, the command line and tests agree.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The unit's activation for each image of one trial (or batch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialActivations {
    /// The min references (`min_0..8`), in the order given.
    pub min_references: Vec<f32>,
    /// The max references (`max_0..8`).
    pub max_references: Vec<f32>,
    /// The min query (`min_9`).
    pub min_query: f32,
    /// The max query (`max_9`): the correct answer.
    pub max_query: f32,
}

/// Something wrong with a trial's stimuli, judged by the unit's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Violation {
    /// The max query does not activate the unit more than the min query: the answer key
    /// is wrong (or the queries are swapped).
    QueriesInverted,
    /// The min query is closer to the max references than to the min references.
    MinQueryLooksMax,
    /// The max query is closer to the min references than to the max references.
    MaxQueryLooksMin,
    /// The two sides' references overlap: some min reference activates the unit at
    /// least as much as some max reference.
    ReferencesOverlap,
}

impl Violation {
    /// A sentence for the researcher.
    pub fn describe(self) -> &'static str {
        match self {
            Violation::QueriesInverted => {
                "the max query does not activate the unit more than the min query"
            }
            Violation::MinQueryLooksMax => {
                "the min query is closer to the max references than to the min references"
            }
            Violation::MaxQueryLooksMin => {
                "the max query is closer to the min references than to the max references"
            }
            Violation::ReferencesOverlap => {
                "a min reference activates the unit at least as much as a max reference"
            }
        }
    }
}

/// What a participant's browser found about a trial's two queries while the trial was
/// loaded (`checks.participant` `record`). The check never delays a trial: whatever is not
/// known when the participant answers is recorded as such.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LiveCheck {
    /// `pass` (the max query activates the unit more), `fail`, `unavailable` (no WebGPU,
    /// no model for the unit, the model or an image could not be used: see `reason`) or
    /// `timeout` (not finished when the participant answered).
    pub status: LiveStatus,
    /// The min query's activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_query: Option<f32>,
    /// The max query's activation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query: Option<f32>,
    /// Where it was computed (`gpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Why the check is unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds the engine took (model loading included the first time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

/// The outcome of a [`LiveCheck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    /// The max query activates the unit more than the min query.
    Pass,
    /// It does not: the answer key may be wrong.
    Fail,
    /// The check could not run.
    Unavailable,
    /// The check was not done when the participant answered.
    Timeout,
}

impl LiveCheck {
    /// The verdict on two computed activations.
    pub fn computed(min_query: f32, max_query: f32, backend: &str, ms: f64) -> LiveCheck {
        LiveCheck {
            status: if max_query > min_query {
                LiveStatus::Pass
            } else {
                LiveStatus::Fail
            },
            min_query: Some(min_query),
            max_query: Some(max_query),
            backend: Some(backend.to_string()),
            reason: None,
            ms: Some(ms),
        }
    }

    /// A check that could not run, and why.
    pub fn unavailable(reason: impl Into<String>) -> LiveCheck {
        LiveCheck {
            status: LiveStatus::Unavailable,
            reason: Some(reason.into()),
            ..LiveCheck::timeout()
        }
    }

    /// A check still running when the participant answered.
    pub fn timeout() -> LiveCheck {
        LiveCheck {
            status: LiveStatus::Timeout,
            min_query: None,
            max_query: None,
            backend: None,
            reason: None,
            ms: None,
        }
    }
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

/// Every violation of the trial, in the order of [`Violation`]; empty when it passes. The
/// references' checks need both sides.
pub fn check(a: &TrialActivations) -> Vec<Violation> {
    let mut out = Vec::new();
    // NaN activations fail every comparison below, so they are reported too.
    if a.max_query.partial_cmp(&a.min_query) != Some(std::cmp::Ordering::Greater) {
        out.push(Violation::QueriesInverted);
    }
    // A condition that shows references on one side only (or none) has no other side to
    // compare with: only the queries are judged.
    if a.min_references.is_empty() || a.max_references.is_empty() {
        return out;
    }
    let (lo, hi) = (mean(&a.min_references), mean(&a.max_references));
    if (a.min_query - lo).abs() >= (a.min_query - hi).abs() || a.min_query.is_nan() {
        out.push(Violation::MinQueryLooksMax);
    }
    if (a.max_query - hi).abs() >= (a.max_query - lo).abs() || a.max_query.is_nan() {
        out.push(Violation::MaxQueryLooksMin);
    }
    let top_min = a
        .min_references
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let bottom_max = a
        .max_references
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    if top_min >= bottom_max || top_min.is_nan() || bottom_max.is_nan() {
        out.push(Violation::ReferencesOverlap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial() -> TrialActivations {
        TrialActivations {
            min_references: vec![0.0, 0.1, 0.2, 0.1, 0.0, 0.3, 0.2, 0.1, 0.0],
            max_references: vec![2.0, 2.5, 1.9, 2.2, 3.0, 2.1, 2.0, 2.4, 2.6],
            min_query: 0.4,
            max_query: 1.8,
        }
    }

    #[test]
    fn a_good_trial_passes() {
        assert_eq!(check(&trial()), vec![]);
    }

    #[test]
    fn one_sided_and_empty_grids_judge_only_the_queries() {
        let mut t = trial();
        t.min_references.clear();
        t.max_references.truncate(1);
        assert_eq!(check(&t), vec![]);
        t.max_references.clear();
        std::mem::swap(&mut t.min_query, &mut t.max_query);
        assert_eq!(check(&t), vec![Violation::QueriesInverted]);
    }

    #[test]
    fn swapped_queries_are_flagged_three_ways() {
        let mut t = trial();
        std::mem::swap(&mut t.min_query, &mut t.max_query);
        assert_eq!(
            check(&t),
            vec![
                Violation::QueriesInverted,
                Violation::MinQueryLooksMax,
                Violation::MaxQueryLooksMin
            ]
        );
    }

    #[test]
    fn equal_queries_are_inverted() {
        let mut t = trial();
        t.max_query = t.min_query;
        assert!(check(&t).contains(&Violation::QueriesInverted));
    }

    #[test]
    fn a_max_image_among_the_min_references_is_an_overlap() {
        let mut t = trial();
        t.min_references[4] = 2.5;
        assert_eq!(check(&t), vec![Violation::ReferencesOverlap]);
    }

    #[test]
    fn a_query_nearer_the_other_side_is_flagged_even_when_ordered() {
        let mut t = trial();
        t.min_query = 1.6; // still below the max query (1.8), but nearer the max side
        assert_eq!(check(&t), vec![Violation::MinQueryLooksMax]);
    }

    #[test]
    fn live_checks_pass_only_when_the_max_query_is_above() {
        assert_eq!(
            LiveCheck::computed(0.1, 0.5, "gpu", 3.0).status,
            LiveStatus::Pass
        );
        assert_eq!(
            LiveCheck::computed(0.5, 0.5, "gpu", 3.0).status,
            LiveStatus::Fail
        );
        assert_eq!(
            LiveCheck::computed(f32::NAN, 0.5, "gpu", 3.0).status,
            LiveStatus::Fail
        );
        let t = serde_json::to_value(LiveCheck::timeout()).unwrap();
        assert_eq!(t, serde_json::json!({"status": "timeout"}));
        let u = serde_json::to_value(LiveCheck::unavailable("no WebGPU")).unwrap();
        assert_eq!(
            u,
            serde_json::json!({"status": "unavailable", "reason": "no WebGPU"})
        );
    }

    #[test]
    fn nan_fails() {
        let mut t = trial();
        t.max_query = f32::NAN;
        assert!(check(&t).contains(&Violation::QueriesInverted));
        assert!(check(&t).contains(&Violation::MaxQueryLooksMin));
    }
}
