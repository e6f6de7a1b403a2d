//! The paradigm's two published human datasets, read as exemplar's trial records so that
//! `exemplar analyze` scores them with the same code and tables as a new study:
//!
//! - **IMI** (Zimmermann et al.), the release's responses CSV: one row per trial with
//!   `participant_id`, `task_id`, `catch_trial`, `is_demo`, `correct`, `passed_checks`, the
//!   unit (`model`, `layer`, `channel`, `batch`, `mode`) and the answer (`rt` in ms,
//!   `button_pressed`, `confidence`, `choice`). A session is one task of one participant
//!   (`participant_id/task_id`), and the release's own `passed_checks` is its verdict: the
//!   exclusion rules are not applied again (the release has no session events to apply
//!   them to). Scored as the paper does: main = not catch, not demo, passed checks; units
//!   by model, layer, channel and mode.
//! - **Borowski et al. (2021)**, experiment I's and II's preprocessed CSVs: one row per
//!   trial with `subject_id`, `block_nr`, `instr_type`, `trial_type` (practice / main /
//!   repeated), `catch_trial`, `layer`, `channel`, `correct`, `conf_rating` (−3…3, the sign
//!   is the chosen query) and `RT` in seconds; experiment II adds `condition_name`. A
//!   session is a subject; the condition is `condition_name` where the file has it, else
//!   `instr_type`, so the per-condition table is that paper's per-subject mean. The files
//!   hold the subjects the paper kept, so every subject is scored. Repeated trials (shown a
//!   second time to measure consistency) become `repeated_trial` records, which are read
//!   but not scored, as in the paper.
//!
//! A layout is recognised by its header; cells the release anonymised (`"anonymized"`),
//! empty or `nan` are left out of the record; a channel or batch that is not a number (a
//! practice trial's `channel_r`) stays a label; any other cell that must be a number or a
//! truth value and is not one is an error naming its line and column.

use serde_json::{Map, Number, Value};

/// A published layout [`detect`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The IMI release's responses CSV.
    Imi,
    /// Borowski et al. (2021), experiment I or II.
    Borowski,
}

impl Layout {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Imi => "the IMI release's responses",
            Layout::Borowski => "Borowski et al. (2021)",
        }
    }
}

const IMI: &[&str] = &["participant_id", "task_id", "passed_checks", "correct"];
const BOROWSKI: &[&str] = &["subject_id", "trial_type", "instr_type", "correct", "RT"];

/// The published layout a CSV header is in, if any.
pub fn detect(header: &[String]) -> Option<Layout> {
    let has = |cols: &[&str]| cols.iter().all(|c| header.iter().any(|h| h == c));
    if has(IMI) {
        Some(Layout::Imi)
    } else if has(BOROWSKI) {
        Some(Layout::Borowski)
    } else {
        None
    }
}

/// One row of a published layout as an exemplar record (`type` `"trial"`, or
/// `"repeated_trial"` for Borowski's repeated trials); the error says what is wrong with
/// which column.
pub fn record(layout: Layout, header: &[String], row: &csv::StringRecord) -> Result<Value, String> {
    let cell = |name: &str| -> Option<&str> {
        let i = header.iter().position(|h| h == name)?;
        let v = row.get(i)?.trim();
        let absent = v.is_empty()
            || v.eq_ignore_ascii_case("nan")
            || v.eq_ignore_ascii_case("anonymized")
            || v.eq_ignore_ascii_case("none");
        (!absent).then_some(v)
    };
    let mut r = Map::new();
    // Every column is kept as read, under its own name; the fields exemplar scores are
    // then set from them.
    for (name, v) in header.iter().zip(row.iter()) {
        let v = v.trim();
        if !v.is_empty() {
            r.insert(name.clone(), Value::String(v.to_string()));
        }
    }
    let truth = |name: &str| -> Result<Option<bool>, String> {
        cell(name).map(|v| truth_value(name, v)).transpose()
    };
    let num = |name: &str| -> Result<Option<f64>, String> {
        cell(name)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("column {name}: {v:?} is not a number"))
            })
            .transpose()
    };
    let correct = truth("correct")?.ok_or("column correct is empty")?;
    r.insert("type".into(), "trial".into());
    r.insert("correct".into(), correct.into());
    let catch = truth("catch_trial")?.unwrap_or(false);
    match layout {
        Layout::Imi => {
            let participant = cell("participant_id").ok_or("column participant_id is empty")?;
            let task = cell("task_id").ok_or("column task_id is empty")?;
            r.insert("participant_id".into(), participant.into());
            r.insert("session_id".into(), format!("{participant}/{task}").into());
            let phase = if catch {
                "catch"
            } else if truth("is_demo")?.unwrap_or(false) {
                "practice"
            } else {
                "main"
            };
            r.insert("phase".into(), phase.into());
            let passed = truth("passed_checks")?.ok_or("column passed_checks is empty")?;
            r.insert("passed_checks".into(), passed.into());
            for name in ["rt", "button_pressed", "confidence", "time_elapsed"] {
                set_number(&mut r, name, num(name)?);
            }
            for name in ["batch", "channel"] {
                if let Some(c) = whole(cell(name)) {
                    set_number(&mut r, name, Some(c));
                }
            }
        }
        Layout::Borowski => {
            let subject = cell("subject_id").ok_or("column subject_id is empty")?;
            r.insert("participant_id".into(), subject.into());
            r.insert("session_id".into(), subject.into());
            let trial_type = cell("trial_type").unwrap_or("main");
            let phase = match trial_type {
                _ if catch => "catch",
                "practice" => "practice",
                "main" => "main",
                "repeated" => {
                    r.insert("type".into(), "repeated_trial".into());
                    "main"
                }
                other => {
                    return Err(format!(
                        "column trial_type: {other:?} is not practice, main or repeated"
                    ))
                }
            };
            r.insert("phase".into(), phase.into());
            // The released subjects are those the paper kept.
            r.insert("passed_checks".into(), true.into());
            let instr = cell("instr_type").unwrap_or("");
            let condition = cell("condition_name").unwrap_or(instr);
            r.insert("condition".into(), condition.into());
            let mode = match instr {
                "natural" | "optimized" => instr,
                _ if instr.starts_with("none") => "none",
                _ => "",
            };
            r.insert("mode".into(), mode.into());
            r.insert("model".into(), "InceptionV1".into());
            set_number(&mut r, "block", num("block_nr")?);
            for name in ["batch", "channel"] {
                if let Some(c) = whole(cell(name)) {
                    set_number(&mut r, name, Some(c));
                }
            }
            set_number(&mut r, "rt", num("RT")?.map(|s| s * 1000.0));
            if let Some(c) = num("conf_rating")? {
                if c != 0.0 {
                    set_number(&mut r, "confidence", Some(c.abs()));
                }
            }
        }
    }
    Ok(Value::Object(r))
}

/// A channel (or batch) number from `12`, `12.0` or `channel_12`; `None` for labels such as
/// `channel_r` (Borowski's practice trials), which stay in the record as read.
fn whole(v: Option<&str>) -> Option<f64> {
    let v = v?;
    let digits = v.strip_prefix("channel_").unwrap_or(v);
    digits
        .parse::<f64>()
        .ok()
        .filter(|f| *f >= 0.0 && f.fract() == 0.0)
}

fn truth_value(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "True" | "true" | "TRUE" | "1" | "1.0" => Ok(true),
        "False" | "false" | "FALSE" | "0" | "0.0" => Ok(false),
        _ => Err(format!("column {name}: {v:?} is not true or false")),
    }
}

fn set_number(r: &mut Map<String, Value>, name: &str, v: Option<f64>) {
    match v {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            r.insert(name.into(), Value::Number(Number::from(f as i64)));
        }
        Some(f) => {
            if let Some(n) = Number::from_f64(f) {
                r.insert(name.into(), Value::Number(n));
            }
        }
        None => {
            r.remove(name);
        }
    }
}
