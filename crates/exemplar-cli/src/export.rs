//! `exemplar export`: the stored records as CSV (one row per answered trial, the original
//! study's column names first) or JSON Lines (every record).
//!
//! Participants type some of what ends up in a cell (their ids come from the link), and a
//! spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! as a formula. Such a text cell is written with a leading `'` ([`Cells::Neutralised`], the
//! default); numbers are written as they are. `--raw-cells` turns this off.

use std::io::Write;

use serde_json::Value;

/// The CSV columns: the trial record's fields that have a column (`x-csv-column` in
/// `exemplar_core::record`), the original study's first.
pub fn csv_columns() -> Vec<String> {
    exemplar_core::schema::fields()
        .csv_columns()
        .into_iter()
        .map(|f| f.name.clone())
        .collect()
}

/// How text cells that a spreadsheet would run as a formula are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cells {
    /// With a leading `'`, so the spreadsheet shows them as text.
    Neutralised,
    /// As they are (for tools that read CSV as data).
    Raw,
}

/// Writes the trial records as CSV: a header row, then one row per trial; a cell is
/// quoted only when it holds a comma, a quote or a line break; lines end in `\n`.
pub fn csv(records: &[Value], out: &mut impl Write, cells: Cells) -> std::io::Result<()> {
    let columns = csv_columns();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    writer.write_record(&columns)?;
    for r in records.iter().filter(|r| r["type"] == "trial") {
        writer.write_record(columns.iter().map(|c| cell(&r[c.as_str()], cells)))?;
    }
    writer.flush()
}

/// Writes every record as one JSON object per line.
pub fn jsonl(records: &[Value], out: &mut impl Write) -> std::io::Result<()> {
    for r in records {
        writeln!(out, "{r}")?;
    }
    Ok(())
}

/// A cell's text, before CSV quoting.
fn cell(v: &Value, cells: Cells) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) if cells == Cells::Neutralised && runs_as_formula(s) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
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

    /// The bytes the hand-written writer produced for recorded samples (every record type,
    /// cells with commas, quotes, line breaks and formulas) stay the same.
    #[test]
    fn csv_bytes_are_unchanged() {
        let records: Vec<Value> = include_str!("../../exemplar-core/tests/data/records.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for (cells, want) in [
            (
                Cells::Neutralised,
                &include_bytes!("../tests/data/export-neutralised.csv")[..],
            ),
            (
                Cells::Raw,
                &include_bytes!("../tests/data/export-raw.csv")[..],
            ),
        ] {
            let mut out = Vec::new();
            csv(&records, &mut out, cells).unwrap();
            assert!(out == want, "{cells:?}:\n{}", String::from_utf8_lossy(&out));
        }
    }

    /// The header names the fields of the record schema's trial records and of
    /// `docs/data.md`.
    #[test]
    fn header_names_record_fields() {
        let mut out = Vec::new();
        csv(&[], &mut out, Cells::Raw).unwrap();
        let header = String::from_utf8(out).unwrap();
        let docs = include_str!("../../../docs/data.md");
        let schema: Value =
            serde_json::from_str(include_str!("../../../schema/record.schema.json")).unwrap();
        let trial = &schema["$defs"]["TrialRecord"]["properties"];
        for name in header.trim_end().split(',') {
            assert!(
                schema["properties"].get(name).is_some() || trial.get(name).is_some(),
                "{name} is not in schema/record.schema.json"
            );
            assert!(
                docs.contains(&format!("| `{name}` |")),
                "{name} is not in docs/data.md"
            );
        }
        assert_eq!(header.trim_end().split(',').count(), 40);
    }
}
