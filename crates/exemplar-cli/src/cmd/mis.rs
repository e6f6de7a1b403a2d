//! `exemplar mis`: the Machine Interpretability Score of every batch of every unit, per
//! unit or per batch, as CSV or JSON on stdout.

use super::Error;
use crate::mis::{self, MisOptions};

fn csv_error(e: csv::Error) -> Error {
    Error::Message(format!("writing the CSV: {e}"))
}

pub fn run(opts: &MisOptions) -> Result<(), Error> {
    let report = mis::run(opts).map_err(Error::Message)?;
    eprintln!(
        "exemplar mis: {} units, {} batches; embeddings: channel means of {} in {}; {}",
        report.units.len(),
        report.batches.len(),
        report.output,
        report.encoder,
        match report.alpha {
            Some(a) => format!("predicted = σ({a}·Δ)"),
            None => "no --alpha: a batch counts 1 when Δ > 0".into(),
        }
    );
    if opts.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut out = csv::Writer::from_writer(std::io::stdout());
    let text = |c: Option<u32>| c.map_or(String::new(), |c| c.to_string());
    if opts.per == "unit" {
        out.write_record([
            "unit",
            "model",
            "layer",
            "channel",
            "batches",
            "mis",
            "share_delta_positive",
        ])
        .map_err(csv_error)?;
        for u in &report.units {
            out.write_record([
                u.unit.clone(),
                u.model.clone(),
                u.layer.clone(),
                text(u.channel),
                u.batches.to_string(),
                u.mis.to_string(),
                u.share_delta_positive.to_string(),
            ])
            .map_err(csv_error)?;
        }
    } else {
        out.write_record([
            "path",
            "unit",
            "model",
            "layer",
            "channel",
            "batch",
            "max_query_to_max",
            "max_query_to_min",
            "min_query_to_max",
            "min_query_to_min",
            "delta",
            "predicted",
        ])
        .map_err(csv_error)?;
        for b in &report.batches {
            let s = &b.score;
            out.write_record([
                b.path.clone(),
                b.unit.clone(),
                b.model.clone(),
                b.layer.clone(),
                text(b.channel),
                b.batch.to_string(),
                s.max_query_to_max.to_string(),
                s.max_query_to_min.to_string(),
                s.min_query_to_max.to_string(),
                s.min_query_to_min.to_string(),
                s.delta.to_string(),
                b.predicted.to_string(),
            ])
            .map_err(csv_error)?;
        }
    }
    out.flush()?;
    Ok(())
}
