//! Reading response records: JSON Lines (every record, as `exemplar export --format jsonl`
//! writes them, or as collected) and CSV (trial rows only, as `exemplar export` writes
//! them), and dropping records that arrived more than once.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use exemplar_core::schema::JsonType;
use serde_json::{Map, Number, Value};

/// Why records could not be read.
#[derive(Debug)]
pub struct ReadError {
    /// The file, where known.
    pub path: Option<PathBuf>,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong, for the person who will fix it.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}", path.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ReadError {}

fn at_line(line: usize, message: impl Into<String>) -> ReadError {
    ReadError {
        path: None,
        line: Some(line),
        message: message.into(),
    }
}

/// Reads a responses file: CSV if its name ends in `.csv`, otherwise JSON Lines. Records
/// are returned as read; pass them to [`dedup`] (or [`crate::analyze`], which does).
pub fn read_path(path: &Path) -> Result<Vec<Value>, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReadError {
        path: Some(path.to_path_buf()),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let parsed = if is_csv {
        parse_csv(&text)
    } else {
        parse_jsonl(&text)
    };
    parsed.map_err(|mut e| {
        e.path = Some(path.to_path_buf());
        e
    })
}

/// Parses JSON Lines: one record object per line; blank lines are skipped. A line may
/// also hold an array of records or a POST body (`{"format": …, "records": [ … ]}`), whose
/// records are taken in order.
pub fn parse_jsonl(text: &str) -> Result<Vec<Value>, ReadError> {
    let mut records = Vec::new();
    for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| at_line(i + 1, format!("not JSON: {e}")))?;
        match value {
            Value::Object(ref o) if o.get("records").is_some_and(Value::is_array) => {
                if let Some(Value::Array(items)) = o.get("records") {
                    records.extend(items.iter().cloned());
                }
            }
            Value::Object(_) => records.push(value),
            Value::Array(items) => records.extend(items),
            _ => {
                return Err(at_line(
                    i + 1,
                    "expected a record (a JSON object) on each line",
                ))
            }
        }
    }
    for (i, r) in records.iter().enumerate() {
        if !r.is_object() {
            return Err(ReadError {
                path: None,
                line: None,
                message: format!("record {} is not a JSON object", i + 1),
            });
        }
    }
    Ok(records)
}

/// Parses CSV with a header row (RFC 4180 quoting: `"` around fields holding commas,
/// quotes or line breaks, `""` for a quote) into trial records: the cells of the record
/// fields that are numbers or booleans (as the record types say, through
/// [`exemplar_core::schema::fields`]) become JSON numbers and booleans, empty cells are left
/// out, and `type` is `"trial"` unless a `type` column says otherwise. `exemplar export`
/// writes only trial rows, so session events (instruction time, practice rounds,
/// main-phase time) are not in such a file. A file in one of the published layouts (the
/// IMI release, Borowski et al. 2021) is recognised by its header and read as
/// [`crate::published`] says. An error names the line its row starts on.
pub fn parse_csv(text: &str) -> Result<Vec<Value>, ReadError> {
    let text = text.trim_start_matches('\u{feff}');
    let types: HashMap<String, JsonType> = exemplar_core::schema::fields()
        .csv_columns()
        .into_iter()
        .map(|f| (f.name.clone(), f.json_type))
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    let Some(header) = rows.next() else {
        return Ok(Vec::new());
    };
    let header = header.map_err(|e| csv_error(&e))?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let published = crate::published::detect(&header);
    let mut records = Vec::new();
    let mut last_start = 0;
    for row in rows {
        let row = row.map_err(|e| csv_error(&e))?;
        let line = row.position().map_or(0, |p| p.line() as usize);
        last_start = row.position().map_or(0, |p| p.byte() as usize);
        if row.len() == 1 && row[0].trim().is_empty() {
            continue;
        }
        if row.len() != header.len() {
            return Err(at_line(
                line,
                format!(
                    "{} cells, but the header has {} columns",
                    row.len(),
                    header.len()
                ),
            ));
        }
        if let Some(layout) = published {
            let record = crate::published::record(layout, &header, &row)
                .map_err(|m| at_line(line, format!("{} file: {m}", layout.name())))?;
            records.push(record);
            continue;
        }
        let mut record = Map::new();
        record.insert("type".into(), Value::String("trial".into()));
        for (name, cell) in header.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = match types.get(name) {
                Some(JsonType::Number | JsonType::Integer) => {
                    let n: f64 = cell.trim().parse().map_err(|_| {
                        at_line(line, format!("column {name}: {cell:?} is not a number"))
                    })?;
                    number(n)
                }
                Some(JsonType::Boolean) => match cell.trim() {
                    "true" | "True" | "TRUE" | "1" => Value::Bool(true),
                    "false" | "False" | "FALSE" | "0" => Value::Bool(false),
                    other => {
                        return Err(at_line(
                            line,
                            format!("column {name}: {other:?} is not true or false"),
                        ))
                    }
                },
                _ => Value::String(cell.to_string()),
            };
            record.insert(name.clone(), value);
        }
        records.push(Value::Object(record));
    }
    // The csv crate reads a quote never closed as running to the end of the file.
    if ends_inside_quotes(&text[last_start.min(text.len())..]) {
        let line = text[..last_start.min(text.len())].matches('\n').count() + 1;
        return Err(at_line(line, "a quoted cell is never closed"));
    }
    Ok(records)
}

fn csv_error(e: &csv::Error) -> ReadError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    at_line(line, format!("not CSV: {e}"))
}

/// Whether the last row of a CSV text (from its start) ends inside a quoted cell.
fn ends_inside_quotes(row: &str) -> bool {
    let (mut quoted, mut at_start) = (false, true);
    let mut bytes = row.bytes().peekable();
    while let Some(b) = bytes.next() {
        match (quoted, b) {
            (true, b'"') if bytes.peek() == Some(&b'"') => {
                bytes.next();
            }
            (true, b'"') => quoted = false,
            (true, _) => {}
            (false, b'"') if at_start => quoted = true,
            (false, b',' | b'\n' | b'\r') => {
                at_start = true;
                continue;
            }
            (false, _) => {}
        }
        at_start = false;
    }
    quoted
}

/// An integer-valued float as a JSON integer (so `seq` reads back as `3`, not `3.0`).
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// What [`dedup`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dedup {
    /// The records, each `record_id` once (the first copy), in input order. Records
    /// without a `record_id` (e.g. the original study's CSV) are all kept.
    pub records: Vec<Value>,
    /// Copies dropped because their `record_id` was seen before with the same content.
    pub duplicates: usize,
    /// `record_id`s seen again with different content (the first copy was kept).
    pub conflicts: Vec<String>,
}

/// Keeps each `record_id` once: the client may deliver a record more than once, and
/// reading several exports of one study repeats them too.
pub fn dedup(records: Vec<Value>) -> Dedup {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Dedup::default();
    for record in records {
        let Some(id) = record.get("record_id").and_then(Value::as_str) else {
            out.records.push(record);
            continue;
        };
        match seen.get(id) {
            Some(&i) => {
                if same_record(&out.records[i], &record) {
                    out.duplicates += 1;
                } else if !out.conflicts.iter().any(|c| c == id) {
                    out.conflicts.push(id.to_string());
                }
            }
            None => {
                seen.insert(id.to_string(), out.records.len());
                out.records.push(record);
            }
        }
    }
    out
}

/// Equal content, tolerating that a CSV round trip drops fields (e.g. the reference
/// lists): every field both copies have must agree, numbers by value.
fn same_record(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, va)| match b.get(k) {
            Some(vb) => same_value(va, vb),
            None => true,
        }),
        _ => a == b,
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_cells_become_typed_fields() {
        let text = "rt,correct,model,seq,unit_id\r\n1834.5,true,\"m,1\",3,\"say \"\"hi\"\"\"\n";
        let records = parse_csv(text).unwrap();
        assert_eq!(
            records,
            vec![
                json!({"type": "trial", "rt": 1834.5, "correct": true, "model": "m,1", "seq": 3, "unit_id": "say \"hi\""})
            ]
        );
    }

    #[test]
    fn csv_reports_the_line_of_a_bad_cell() {
        let err = parse_csv("rt,correct\n1,true\nx,true\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.to_string().contains("column rt"), "{err}");
    }

    #[test]
    fn csv_reports_a_quote_never_closed_and_a_short_row() {
        let err = parse_csv("rt,model\n1,a\n2,\"b\nc\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.to_string().contains("never closed"), "{err}");
        let err = parse_csv("rt,model\n1,\"a\nb\"\n2\n").unwrap_err();
        assert_eq!(err.line, Some(4));
        assert!(err.to_string().contains("header has 2 columns"), "{err}");
        assert_eq!(
            parse_csv("rt,model\n1,\"a\"\"\"\n").unwrap()[0]["model"],
            "a\""
        );
    }

    #[test]
    fn jsonl_accepts_post_bodies_and_skips_blank_lines() {
        let text = "{\"record_id\":\"s-0\"}\n\n{\"format\":\"exemplar.record/1\",\"records\":[{\"record_id\":\"s-1\"}]}\n";
        let records = parse_jsonl(text).unwrap();
        assert_eq!(
            records,
            vec![json!({"record_id": "s-0"}), json!({"record_id": "s-1"})]
        );
        assert_eq!(parse_jsonl("{\n").unwrap_err().line, Some(1));
    }

    #[test]
    fn dedup_keeps_the_first_copy_and_flags_conflicts() {
        let d = dedup(vec![
            json!({"record_id": "s-0", "rt": 1.0}),
            json!({"record_id": "s-0", "rt": 1}),
            json!({"record_id": "s-1", "rt": 2.0}),
            json!({"record_id": "s-1", "rt": 3.0}),
            json!({"rt": 4.0}),
            json!({"rt": 4.0}),
        ]);
        assert_eq!(d.records.len(), 4);
        assert_eq!(d.duplicates, 1);
        assert_eq!(d.conflicts, vec!["s-1".to_string()]);
    }
}
