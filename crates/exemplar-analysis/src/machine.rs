//! The machine beside the humans: each batch's Δ from `exemplar mis --per batch`
//! (Zimmermann, Klindt & Brendel 2024; [`exemplar_core::mis`]) joined to the study's
//! scored trials, α fitted to the humans' own answers by maximum likelihood, each unit's
//! MIS (the mean of σ(α·Δ) over its batches) beside its human proportion correct, and
//! their Spearman correlation over units with a seeded percentile bootstrap CI.
//!
//! A human trial is matched to a batch by its `unit_id` and `batch`; records without a
//! unit id (the IMI release), or whose unit id the file does not know, by `model`,
//! `layer`, `channel` and `batch`, where only one unit of the file has them.

use std::collections::{BTreeMap, HashMap, HashSet};

use exemplar_core::mis::{self, Alpha};
use exemplar_core::rng::Rng;
use serde::Serialize;

use crate::read::ReadError;
use crate::{stats, Options, Trial, UnitScore};

/// One batch's Δ, as `exemplar mis --per batch` writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchDelta {
    /// The unit's id.
    pub unit: String,
    /// `model`.
    pub model: String,
    /// `layer`.
    pub layer: String,
    /// `channel`.
    pub channel: Option<u64>,
    /// The batch.
    pub batch: u64,
    /// Δ: positive when the machine would pick the max query.
    pub delta: f64,
}

/// Reads the CSV of `exemplar mis --per batch` (columns `unit`, `model`, `layer`,
/// `channel`, `batch`, `delta`; others are ignored).
pub fn read_batches_csv(text: &str) -> Result<Vec<BatchDelta>, ReadError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| error(0, format!("not CSV: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            error(
                1,
                format!(
                    "no column {name}: expected the CSV of `exemplar mis --per batch` \
                     (unit, model, layer, channel, batch, delta)"
                ),
            )
        })
    };
    let [unit, model, layer, channel, batch, delta] =
        ["unit", "model", "layer", "channel", "batch", "delta"].map(column);
    let (unit, model, layer, channel, batch, delta) =
        (unit?, model?, layer?, channel?, batch?, delta?);
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            error(line, format!("not CSV: {e}"))
        })?;
        let line = row.position().map_or(0, |p| p.line() as usize);
        let cell = |i: usize| row.get(i).unwrap_or("").trim();
        let number = |name: &str, i: usize| -> Result<f64, ReadError> {
            cell(i)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    error(
                        line,
                        format!("column {name}: {:?} is not a number", cell(i)),
                    )
                })
        };
        let whole = |name: &str, i: usize| -> Result<u64, ReadError> {
            cell(i).parse::<u64>().map_err(|_| {
                error(
                    line,
                    format!("column {name}: {:?} is not a whole number", cell(i)),
                )
            })
        };
        out.push(BatchDelta {
            unit: cell(unit).to_string(),
            model: cell(model).to_string(),
            layer: cell(layer).to_string(),
            channel: if cell(channel).is_empty() {
                None
            } else {
                Some(whole("channel", channel)?)
            },
            batch: whole("batch", batch)?,
            delta: number("delta", delta)?,
        });
    }
    Ok(out)
}

fn error(line: usize, message: String) -> ReadError {
    ReadError {
        path: None,
        line: (line > 0).then_some(line),
        message,
    }
}

/// One unit: the humans' score and the machine's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitPair {
    /// The unit, as in the per-unit table.
    pub unit_id: String,
    /// Its group label.
    pub group: String,
    /// Human proportion correct.
    pub human: f64,
    /// The MIS: the mean of σ(α·Δ) over the unit's batches (with no α, the share with
    /// Δ > 0).
    pub mis: f64,
    /// The unit's batches in the MIS file.
    pub batches: usize,
}

/// The machine's scores beside the humans'.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MachineComparison {
    /// α fitted to the scored human trials (`None` where it cannot be: see
    /// [`MachineComparison::alpha_note`]).
    pub alpha: Option<f64>,
    /// Why no α was fitted, when none was.
    pub alpha_note: Option<String>,
    /// Scored human trials matched to a batch's Δ.
    pub trials_matched: usize,
    /// Scored human trials with no batch in the MIS file.
    pub trials_unmatched: usize,
    /// Units scored by both, sorted by group then unit.
    pub units: Vec<UnitPair>,
    /// Spearman's ρ between MIS and human score over those units (`None` below 3 units or
    /// where either side is constant).
    pub spearman: Option<f64>,
    /// Lower bound of its percentile bootstrap CI over units.
    pub ci_low: Option<f64>,
    /// Upper bound.
    pub ci_high: Option<f64>,
}

/// The key a trial or a batch is matched by.
fn key(unit: Option<&str>, model: &str, layer: &str, channel: Option<u64>) -> String {
    match unit {
        Some(u) => format!("unit\u{1f}{u}"),
        None => format!(
            "layer\u{1f}{model}\u{1f}{layer}\u{1f}{}",
            channel.map_or(String::new(), |c| c.to_string())
        ),
    }
}

/// Joins `scored` trials (with their unit keys, as the per-unit table has them) to
/// `batches`, fits α, and compares each unit's MIS with its human score in `units`.
pub(crate) fn compare(
    scored: &[(&Trial, String, String)],
    units: &[UnitScore],
    batches: &[BatchDelta],
    options: &Options,
) -> MachineComparison {
    // Each batch by its unit id, and by model, layer and channel where no other unit of the
    // file shares them (two modes of one channel would), so that records with and without
    // unit ids find it.
    let mut units_of_layer: HashMap<String, HashSet<&str>> = HashMap::new();
    for b in batches {
        let k = key(None, &b.model, &b.layer, b.channel);
        units_of_layer.entry(k).or_default().insert(&b.unit);
    }
    let mut by_key: HashMap<(String, u64), f64> = HashMap::new();
    let mut unit_deltas: HashMap<String, Vec<f64>> = HashMap::new();
    for b in batches {
        let by_layer = key(None, &b.model, &b.layer, b.channel);
        let unique = units_of_layer[&by_layer].len() == 1;
        let keys = [
            Some(key(Some(&b.unit), "", "", None)),
            unique.then_some(by_layer),
        ];
        for k in keys.into_iter().flatten() {
            by_key.insert((k.clone(), b.batch), b.delta);
            unit_deltas.entry(k).or_default().push(b.delta);
        }
    }
    let (mut deltas, mut correct) = (Vec::new(), Vec::new());
    // (group, unit id) → the key of its batches.
    let mut unit_keys: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut unmatched = 0;
    for (t, group, unit_id) in scored {
        // By unit id where the trial has one and the file knows it, else by layer and
        // channel (a file written for a stimuli folder names units by their folders).
        let by_layer = key(None, &t.model, &t.layer, t.channel);
        let found = t.batch.and_then(|b| {
            t.unit_id
                .as_deref()
                .map(|u| key(Some(u), "", "", None))
                .into_iter()
                .chain([by_layer])
                .find_map(|k| by_key.get(&(k.clone(), b)).map(|&d| (k, d)))
        });
        match found {
            Some((k, d)) => {
                deltas.push(d);
                correct.push(t.correct);
                unit_keys.insert((group.clone(), unit_id.clone()), k);
            }
            None => unmatched += 1,
        }
    }
    let (alpha, alpha_note) = match mis::fit_alpha(&deltas, &correct) {
        Ok(a) => (Some(a), None),
        Err(e) => (
            None,
            Some(format!("{e}; the MIS is the share of batches with Δ > 0")),
        ),
    };
    let rule = alpha.map_or(Alpha::None, Alpha::Value);
    let pairs: Vec<UnitPair> = units
        .iter()
        .filter_map(|u| {
            let k = unit_keys.get(&(u.group.clone(), u.unit_id.clone()))?;
            let ds = unit_deltas.get(k)?;
            Some(UnitPair {
                unit_id: u.unit_id.clone(),
                group: u.group.clone(),
                human: u.score,
                mis: mis::unit_score(ds, rule)?,
                batches: ds.len(),
            })
        })
        .collect();
    let xs: Vec<f64> = pairs.iter().map(|p| p.mis).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.human).collect();
    let rho = spearman(&xs, &ys);
    let (mut ci_low, mut ci_high) = (None, None);
    if rho.is_some() && options.bootstrap_resamples > 0 {
        let mut rng = Rng::derive(options.seed, "bootstrap spearman mis");
        let n = xs.len();
        let mut draws = Vec::with_capacity(options.bootstrap_resamples);
        for _ in 0..options.bootstrap_resamples {
            let pick: Vec<usize> = (0..n).map(|_| rng.below(n as u64) as usize).collect();
            let x: Vec<f64> = pick.iter().map(|&i| xs[i]).collect();
            let y: Vec<f64> = pick.iter().map(|&i| ys[i]).collect();
            // A resample where one side is constant has no ρ; it is left out.
            if let Some(r) = spearman(&x, &y) {
                draws.push(r);
            }
        }
        draws.sort_by(f64::total_cmp);
        let tail = (1.0 - options.ci_level) / 2.0;
        ci_low = stats::quantile_sorted(&draws, tail);
        ci_high = stats::quantile_sorted(&draws, 1.0 - tail);
    }
    MachineComparison {
        alpha,
        alpha_note,
        trials_matched: deltas.len(),
        trials_unmatched: unmatched,
        units: pairs,
        spearman: rho,
        ci_low,
        ci_high,
    }
}

/// Spearman's ρ: Pearson's correlation of the average ranks. `None` below 3 pairs or where
/// either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (stats::rank_average(x), stats::rank_average(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_is_one_for_any_increasing_map_and_minus_one_reversed() {
        let x = [0.1, 0.5, 0.2, 0.9, 0.3];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.powi(3) + 2.0).collect();
        assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        let z: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((spearman(&x, &z).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&x, &[1.0; 5]), None);
        assert_eq!(spearman(&x[..2], &y[..2]), None);
        // By hand: ranks (1, 2, 3, 4) against (2, 1, 4, 3): d² = 4, ρ = 1 − 6·4/(4·15).
        let r = spearman(&[1.0, 2.0, 3.0, 4.0], &[2.0, 1.0, 4.0, 3.0]).unwrap();
        assert!((r - 0.6).abs() < 1e-12);
    }
}
