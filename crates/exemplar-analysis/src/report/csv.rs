//! The CSV tables (`models.csv`, `units.csv`, `sessions.csv`, `posthoc.csv`,
//! `conditions.csv`: rows without a `block` are per condition, rows with one per block;
//! `baselines.csv`: each baseline's models and conditions beside the study's;
//! `machine.csv`: each unit's MIS beside its human score), written with
//! the `csv` crate: a header line, then one row a line; a cell is quoted only where it
//! holds a comma, a quote or a line break.

use super::content::{failures, opt};
use crate::Analysis;

/// The table as CSV text: `header`, then `rows`.
fn csv_rows(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let written = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .try_for_each(|row: Vec<String>| writer.write_record(&row));
    // Writing into memory fails only on rows of different lengths, which the tables
    // below never build.
    written.expect("rows as long as the header");
    let bytes = writer.into_inner().expect("writing into memory");
    String::from_utf8(bytes).expect("the cells are UTF-8")
}

/// Per-model scores as CSV.
pub fn models_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "model_label",
            "model",
            "mode",
            "units",
            "trials",
            "mean",
            "ci_low",
            "ci_high",
            "sd",
            "median",
        ],
        a.models.iter().map(|m| {
            vec![
                m.label.clone(),
                m.model.clone(),
                m.mode.clone(),
                m.units.to_string(),
                m.trials.to_string(),
                m.mean.to_string(),
                m.ci_low.to_string(),
                m.ci_high.to_string(),
                opt(m.sd),
                m.median.to_string(),
            ]
        }),
    )
}

/// Per-condition and per-block scores as CSV (a design's; only the header without one).
pub fn conditions_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "condition",
            "block",
            "sessions",
            "trials",
            "correct",
            "mean",
            "ci_low",
            "ci_high",
            "sd",
        ],
        a.conditions.iter().chain(&a.blocks).map(|c| {
            vec![
                c.condition.clone(),
                opt(c.block),
                c.sessions.to_string(),
                c.trials.to_string(),
                c.correct.to_string(),
                c.mean.to_string(),
                c.ci_low.to_string(),
                c.ci_high.to_string(),
                opt(c.sd),
            ]
        }),
    )
}

/// Each baseline's models and conditions beside the study's ([`crate::beside`]); only the
/// header without a baseline.
pub fn baselines_csv(a: &Analysis) -> String {
    let cells = |s: Option<crate::Scored>| match s {
        Some(s) => vec![
            s.n.to_string(),
            s.mean.to_string(),
            s.ci_low.to_string(),
            s.ci_high.to_string(),
        ],
        None => vec![String::new(); 4],
    };
    csv_rows(
        &[
            "baseline",
            "kind",
            "label",
            "n",
            "mean",
            "ci_low",
            "ci_high",
            "baseline_n",
            "baseline_mean",
            "baseline_ci_low",
            "baseline_ci_high",
        ],
        a.baselines.iter().flat_map(|b| {
            crate::beside(a, b).into_iter().map(move |row| {
                let mut r = vec![b.source.clone(), row.kind.to_string(), row.label];
                r.extend(cells(row.study));
                r.extend(cells(row.baseline));
                r
            })
        }),
    )
}

/// Each unit's MIS beside its human score, with the fitted α on every row (only the
/// header without MIS values).
pub fn machine_csv(a: &Analysis) -> String {
    let alpha = a.machine.as_ref().and_then(|m| m.alpha);
    csv_rows(
        &["group", "unit", "batches", "mis", "human", "alpha"],
        a.machine.iter().flat_map(|m| &m.units).map(|u| {
            vec![
                u.group.clone(),
                u.unit_id.clone(),
                u.batches.to_string(),
                u.mis.to_string(),
                u.human.to_string(),
                opt(alpha),
            ]
        }),
    )
}

/// Per-unit scores as CSV.
pub fn units_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "model_label",
            "unit_id",
            "model",
            "layer",
            "channel",
            "mode",
            "trials",
            "correct",
            "score",
            "sessions",
        ],
        a.units.iter().map(|u| {
            vec![
                u.group.clone(),
                u.unit_id.clone(),
                u.model.clone(),
                u.layer.clone(),
                opt(u.channel),
                u.mode.clone(),
                u.trials.to_string(),
                u.correct.to_string(),
                u.score.to_string(),
                u.sessions.to_string(),
            ]
        }),
    )
}

/// Session verdicts as CSV; `failures` joins the reasons with `; `.
pub fn sessions_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "session_id",
            "participant_id",
            "simulated",
            "passed",
            "completed",
            "main_trials",
            "catch_correct",
            "catch_trials",
            "upper_row",
            "lower_row",
            "main_phase_time_s",
            "main_phase_time_from",
            "instruction_time_s",
            "practice_rounds",
            "failures",
        ],
        a.sessions.iter().map(|s| {
            vec![
                s.session_id.clone(),
                s.participant_id.clone(),
                s.simulated.to_string(),
                s.passed.to_string(),
                s.completed.to_string(),
                s.main_trials.to_string(),
                s.catch_correct.to_string(),
                s.catch_trials.to_string(),
                s.upper_row.to_string(),
                s.lower_row.to_string(),
                opt(s.main_phase_time_s),
                s.main_phase_time_from.clone().unwrap_or_default(),
                opt(s.instruction_time_s),
                opt(s.practice_rounds),
                failures(s),
            ]
        }),
    )
}

/// Conover post-hoc pairs as CSV.
pub fn posthoc_csv(a: &Analysis) -> String {
    csv_rows(
        &[
            "a",
            "b",
            "mean_rank_difference",
            "t",
            "df",
            "p",
            "p_holm",
            "significant",
        ],
        a.posthoc.iter().map(|p| {
            vec![
                p.a.clone(),
                p.b.clone(),
                p.test.mean_rank_difference.to_string(),
                p.test.t.to_string(),
                p.test.df.to_string(),
                p.test.p.to_string(),
                p.test.p_holm.to_string(),
                p.significant.to_string(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    /// The quoting of the hand-written writer the `csv` crate replaced: a cell is quoted
    /// only when it holds a comma, a quote, LF or CR, quotes doubled.
    fn by_hand(header: &[&str], rows: &[Vec<String>]) -> String {
        let cell = |text: &str| {
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text.to_string()
            }
        };
        let mut out = header.join(",") + "\n";
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out += &cells.join(",");
            out.push('\n');
        }
        out
    }

    #[test]
    fn cells_are_quoted_as_before() {
        let header = ["a", "b", "c"];
        let rows: Vec<Vec<String>> = [
            ["plain", "", "0.75"],
            ["a,b", "say \"hi\"", "two\nlines"],
            ["cr\rhere", " spaced ", "#hash"],
            ["", "", ""],
            ["=1+1", "'quoted'", "tab\there"],
            ["ünïcode – dash", "NaN", "-0"],
        ]
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
        assert_eq!(
            super::csv_rows(&header, rows.clone().into_iter()),
            by_hand(&header, &rows)
        );
        assert_eq!(super::csv_rows(&header, std::iter::empty()), "a,b,c\n");
    }
}
