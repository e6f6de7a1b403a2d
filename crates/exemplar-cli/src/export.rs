//! `exemplar export`: the stored records as CSV (one row per answered trial, the original
//! study's column names first) or JSON Lines (every record).
//!
//! Participants type some of what ends up in a cell (their ids come from the link), and a
//! spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! as a formula. Such a text cell is written with a leading `'` ([`Cells::Neutralised`], the
//! default); numbers are written as they are. `--raw-cells` turns this off.

use std::io::Write;

use serde_json::Value;

/// The CSV columns: the original study's trial fields, then exemplar's.
pub const CSV_COLUMNS: &[&str] = &[
    "rt",
    "button_pressed",
    "switched_queries",
    "confidence",
    "choice",
    "correct",
    "catch_trial",
    "is_demo",
    "trial_index",
    "time_elapsed",
    "model",
    "layer",
    "channel",
    "batch",
    "mode",
    "session_id",
    "participant_id",
    "experiment_id",
    "experiment_version",
    "record_id",
    "seq",
    "timestamp",
    "phase",
    "attempt",
    "unit_id",
    "rt_dom",
    "onset",
    "input",
    "chosen_stimulus",
    "min_query",
    "max_query",
    "window_width",
    "window_height",
    "device_pixel_ratio",
    "focus_losses",
    "visibility_losses",
    "fullscreen",
];

/// How text cells that a spreadsheet would run as a formula are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cells {
    /// With a leading `'`, so the spreadsheet shows them as text.
    Neutralised,
    /// As they are (for tools that read CSV as data).
    Raw,
}

/// Writes the trial records as CSV.
pub fn csv(records: &[Value], out: &mut impl Write, cells: Cells) -> std::io::Result<()> {
    writeln!(out, "{}", CSV_COLUMNS.join(","))?;
    for r in records.iter().filter(|r| r["type"] == "trial") {
        let row: Vec<String> = CSV_COLUMNS.iter().map(|c| cell(&r[*c], cells)).collect();
        writeln!(out, "{}", row.join(","))?;
    }
    Ok(())
}

/// Writes every record as one JSON object per line.
pub fn jsonl(records: &[Value], out: &mut impl Write) -> std::io::Result<()> {
    for r in records {
        writeln!(out, "{r}")?;
    }
    Ok(())
}

fn cell(v: &Value, cells: Cells) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) if cells == Cells::Neutralised && runs_as_formula(s) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Whether a spreadsheet would take this text as a formula.
fn runs_as_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_and_keeps_the_original_columns_first() {
        let records = vec![
            json!({"type": "trial", "rt": 1834.5, "button_pressed": 4, "switched_queries": false, "confidence": 2,
                   "choice": "b", "correct": true, "model": "m,1", "unit_id": "say \"hi\""}),
            json!({"type": "feedback", "text": "not a trial"}),
        ];
        let mut out = Vec::new();
        csv(&records, &mut out, Cells::Neutralised).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("rt,button_pressed,switched_queries,confidence,choice,correct,catch_trial,is_demo,trial_index,time_elapsed,model,layer,channel,batch,mode,"));
        assert!(
            lines[1].starts_with("1834.5,4,false,2,b,true,,,,,\"m,1\","),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("\"say \"\"hi\"\"\""), "{}", lines[1]);
    }

    #[test]
    fn text_a_spreadsheet_would_run_is_neutralised_and_numbers_are_not() {
        let records = vec![
            json!({"type": "trial", "rt": -1.5, "participant_id": "=HYPERLINK(\"http://x\")",
                                   "unit_id": "+1", "model": "@SUM(A1)", "layer": "-2", "session_id": "\tx", "mode": "natural"}),
        ];
        let row = |cells| {
            let mut out = Vec::new();
            csv(&records, &mut out, cells).unwrap();
            String::from_utf8(out)
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
                .to_string()
        };
        let safe = row(Cells::Neutralised);
        assert!(safe.starts_with("-1.5,"), "a number stays a number: {safe}");
        for want in [
            "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ",'+1,",
            ",'@SUM(A1),",
            ",'-2,",
            "'\tx",
            ",natural,",
        ] {
            assert!(safe.contains(want), "{want} in {safe}");
        }
        let raw = row(Cells::Raw);
        assert!(raw.contains(",@SUM(A1),") && raw.contains(",+1,"), "{raw}");
    }
}
