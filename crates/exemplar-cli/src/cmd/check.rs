//! `exemplar check`: every batch's images through its unit's model, judged as the
//! preview's "Check all" does.

use std::path::Path;

use super::Error;
use crate::exemplars::LimitOptions;

/// Prints a line (or a JSON object) per batch and a summary on stderr; returns how many
/// batches fail.
pub fn run(dir: &Path, backend: &str, json: bool, limits: &LimitOptions) -> Result<usize, Error> {
    let backend: exemplar_engine::Backend = backend.parse()?;
    let report = crate::check::run_with(dir, backend, &limits.load_options())?;
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
    Ok(failures)
}
