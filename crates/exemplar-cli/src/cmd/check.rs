//! `exemplar check`: every batch's images through its unit's model, judged as the
//! preview's "Check all" does.

use std::path::Path;

use super::Error;
use crate::exemplars::LimitOptions;

/// The bounds of `--min-predicted` and `--max-predicted`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Predicted {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Prints a line (or a JSON object) per batch and a summary on stderr; returns how many
/// batches fail (and, with bounds on the predicted accuracy, how many the encoder of
/// `checks.encoder` finds too hard or too easy).
pub fn run(
    dir: &Path,
    backend: &str,
    json: bool,
    limits: &LimitOptions,
    predicted: Predicted,
) -> Result<usize, Error> {
    for (name, v) in [
        ("--min-predicted", predicted.min),
        ("--max-predicted", predicted.max),
    ] {
        if v.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err(Error::Message(format!("{name}: must lie between 0 and 1")));
        }
    }
    let report = crate::check::run_with(dir, backend.parse()?, &limits.load_options())?;
    for b in &report.batches {
        if json {
            println!("{}", serde_json::to_string(b)?);
            continue;
        }
        let a = &b.activations;
        let verdict = if b.violations.is_empty() {
            "pass"
        } else {
            "FAIL"
        };
        println!(
            "{verdict}  {} ({} {} channel {}, batch {}): max query {:.4}, min query {:.4}",
            b.path, b.unit, b.layer, b.channel, b.batch, a.max_query, a.min_query
        );
        for v in &b.violations {
            println!("      {}", v.describe());
        }
    }
    for u in &report.unchecked {
        eprintln!("note: {u} names a model that checks.models does not have; not checked");
    }
    let failures = report.failures();
    eprintln!(
        "exemplar check: {} batches checked, {failures} failing, {} units without a model",
        report.batches.len(),
        report.unchecked.len()
    );
    // The bounds: the flags, else the experiment's own (checks.encoder).
    let encoder = exemplar_core::Experiment::load_dir(dir)
        .ok()
        .and_then(|e| e.checks.encoder);
    let bounds = Predicted {
        min: predicted
            .min
            .or(encoder.as_ref().and_then(|e| e.min_predicted)),
        max: predicted
            .max
            .or(encoder.as_ref().and_then(|e| e.max_predicted)),
    };
    if bounds.min.is_none() && bounds.max.is_none() {
        return Ok(failures);
    }
    Ok(failures + machine(dir, backend, json, limits, bounds)?)
}

/// Each batch's predicted accuracy from `checks.encoder` against the bounds; returns how
/// many lie outside.
fn machine(
    dir: &Path,
    backend: &str,
    json: bool,
    limits: &LimitOptions,
    bounds: Predicted,
) -> Result<usize, Error> {
    let report =
        crate::mis::with_experiment_encoder(dir, backend, limits).map_err(Error::Message)?;
    let mut flagged = 0;
    for b in &report.batches {
        let p = b.predicted;
        let flag = exemplar_core::mis::difficulty(p, bounds.min, bounds.max).map(|d| d.describe());
        flagged += usize::from(flag.is_some());
        if json {
            let line = serde_json::json!({
                "path": b.path, "unit": b.unit, "batch": b.batch,
                "delta": b.score.delta, "predicted": p, "flag": flag,
            });
            println!("{line}");
        } else {
            println!(
                "{}  {} ({}, batch {}): predicted {:.3} (Δ = {:.4}){}",
                if flag.is_some() { "FLAG" } else { "ok  " },
                b.path,
                b.unit,
                b.batch,
                p,
                b.score.delta,
                flag.map_or(String::new(), |f| format!(": {f}"))
            );
        }
    }
    eprintln!(
        "exemplar check: {} batches predicted by {} ({}), {flagged} outside {}–{}",
        report.batches.len(),
        report.encoder,
        report
            .alpha
            .map_or("no α: 1 when Δ > 0".to_string(), |a| format!("α = {a}")),
        bounds.min.unwrap_or(0.0),
        bounds.max.unwrap_or(1.0)
    );
    Ok(flagged)
}
