//! Records grouped by session, and the paradigm's exclusion rules applied to each session.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use exemplar_core::plan::Phase;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields of one trial record that the analysis uses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// `session_id`.
    pub session_id: String,
    /// `phase` (or, without it, from `catch_trial` / `is_demo` as in the original data).
    pub phase: Phase,
    /// `attempt`: the practice round.
    pub attempt: Option<u64>,
    /// `unit_id`, if recorded.
    pub unit_id: Option<String>,
    /// `model`.
    pub model: String,
    /// `layer`.
    pub layer: String,
    /// `channel`.
    pub channel: Option<u64>,
    /// `mode`: `natural`, `optimized` or `catch_trial`.
    pub mode: String,
    /// `button_pressed`.
    pub button_pressed: Option<u64>,
    /// `confidence`.
    pub confidence: Option<u64>,
    /// `correct`.
    pub correct: bool,
    /// `rt` in ms.
    pub rt: Option<f64>,
    /// `timestamp` in ms since the epoch.
    pub timestamp: Option<f64>,
    /// Answered by a `?simulate=` participant (`input: "simulated"`).
    pub simulated: bool,
    /// `condition`: the block's condition in a design (empty without one).
    pub condition: String,
    /// `block`: the block's position in the session (`None` without a design).
    pub block: Option<u64>,
    /// `batch`: which of the unit's batches the trial showed.
    pub batch: Option<u64>,
    /// `passed_checks`: a published dataset's own verdict on the session
    /// ([`crate::published`]), which then replaces the exclusion rules.
    pub passed_checks: Option<bool>,
}

impl Trial {
    /// The trial fields of a `type: "trial"` record; `None` for other records and for a
    /// trial without `correct`.
    pub fn from_record(r: &Value) -> Option<Trial> {
        if r.get("type").and_then(Value::as_str) != Some("trial") {
            return None;
        }
        let text = |k: &str| match r.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let flag = |k: &str| r.get(k).and_then(Value::as_bool).unwrap_or(false);
        let phase = match r.get("phase").and_then(|p| Phase::deserialize(p).ok()) {
            Some(phase) => phase,
            _ if flag("catch_trial") => Phase::Catch,
            _ if flag("is_demo") => Phase::Practice,
            _ => Phase::Main,
        };
        Some(Trial {
            session_id: text("session_id"),
            phase,
            attempt: unsigned(r.get("attempt")),
            unit_id: r
                .get("unit_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            model: text("model"),
            layer: text("layer"),
            channel: unsigned(r.get("channel")),
            mode: text("mode"),
            button_pressed: unsigned(r.get("button_pressed")),
            confidence: unsigned(r.get("confidence")),
            correct: r.get("correct")?.as_bool()?,
            rt: r.get("rt").and_then(Value::as_f64),
            timestamp: r.get("timestamp").and_then(Value::as_f64),
            simulated: r.get("input").and_then(Value::as_str) == Some("simulated"),
            condition: text("condition"),
            block: unsigned(r.get("block")),
            batch: unsigned(r.get("batch")),
            passed_checks: r.get("passed_checks").and_then(Value::as_bool),
        })
    }
}

fn unsigned(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

/// The exclusion rules: part of the experiment (`analysis.exclusion` in
/// `experiment.json`), with the original study's thresholds as defaults.
pub use exemplar_core::experiment::Exclusion;

/// One exclusion rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Share of catch trials correct.
    CatchAccuracy,
    /// Answers in the upper button row.
    UpperRow,
    /// Answers in the lower button row.
    LowerRow,
    /// Main-phase time.
    MainPhaseTime,
    /// Time on the instructions.
    InstructionTime,
    /// Practice rounds.
    PracticeRounds,
    /// A published dataset's own verdict (`passed_checks`).
    PublishedChecks,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::CatchAccuracy => "catch_accuracy",
            Rule::UpperRow => "upper_row",
            Rule::LowerRow => "lower_row",
            Rule::MainPhaseTime => "main_phase_time",
            Rule::InstructionTime => "instruction_time",
            Rule::PracticeRounds => "practice_rounds",
            Rule::PublishedChecks => "published_checks",
        })
    }
}

/// A rule a session failed, and why in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// The rule.
    pub rule: Rule,
    /// What the data showed against the threshold, e.g. "3 of 5 catch trials correct
    /// (60.0 %), need at least 80.0 %".
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.reason)
    }
}

/// One session's measures and verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionVerdict {
    /// `session_id`.
    pub session_id: String,
    /// `participant_id` (of the session's first record that has one).
    pub participant_id: String,
    /// Whether the session passed every rule; only passing sessions are scored.
    pub passed: bool,
    /// Whether a `?simulate=` participant answered its trials: such a session is listed
    /// with its verdict but scored only when asked ([`crate::Options::score_simulated`]).
    pub simulated: bool,
    /// The rules it failed (empty when it passed).
    pub failures: Vec<Failure>,
    /// Whether a `session_completed` record arrived.
    pub completed: bool,
    /// Answered main trials (not catch).
    pub main_trials: usize,
    /// Answered catch trials.
    pub catch_trials: usize,
    /// Correct catch trials.
    pub catch_correct: usize,
    /// Main-block answers (main and catch) in the upper button row.
    pub upper_row: usize,
    /// Main-block answers in the lower button row.
    pub lower_row: usize,
    /// Main-phase time in seconds.
    pub main_phase_time_s: Option<f64>,
    /// Where the main-phase time came from: `session_completed` or `trial timestamps`.
    pub main_phase_time_from: Option<String>,
    /// Instruction time in seconds (`instructions_done`).
    pub instruction_time_s: Option<f64>,
    /// Practice rounds taken.
    pub practice_rounds: Option<u64>,
}

/// The session-level facts gathered from a session's records.
#[derive(Default)]
struct Gathered {
    participant_id: String,
    completed_main_phase_ms: Option<f64>,
    completed_practice_rounds: Option<u64>,
    completed: bool,
    instruction_ms: Option<(u64, f64)>,
    /// (block, round) of each practice round seen.
    practice_round_events: BTreeSet<(u64, u64)>,
    practice_trial_attempts: BTreeSet<(u64, u64)>,
    main_block_timestamps: Vec<f64>,
    simulated: bool,
}

/// Applies `rules` to every session found in `records` (each `record_id` once, see
/// [`crate::read::dedup`]); `trials` are the records' trials ([`Trial::from_record`]).
/// `levels` is L, the number of confidence levels. Sessions come sorted by `session_id`.
pub fn verdicts(
    records: &[Value],
    trials: &[Trial],
    rules: &Exclusion,
    levels: u64,
) -> Vec<SessionVerdict> {
    let mut gathered: BTreeMap<String, Gathered> = BTreeMap::new();
    for r in records {
        let Some(session) = r.get("session_id").and_then(Value::as_str) else {
            continue;
        };
        let g = gathered.entry(session.to_string()).or_default();
        if g.participant_id.is_empty() {
            if let Some(p) = r.get("participant_id").and_then(Value::as_str) {
                g.participant_id = p.to_string();
            }
        }
        let seq = unsigned(r.get("seq")).unwrap_or(0);
        match r.get("type").and_then(Value::as_str) {
            Some("session_completed") => {
                g.completed = true;
                g.completed_main_phase_ms = r.get("main_phase_time").and_then(Value::as_f64);
                g.completed_practice_rounds = unsigned(r.get("practice_rounds"));
            }
            Some("instructions_done") => {
                // The last one counts, should the instructions be left more than once.
                if let Some(ms) = r.get("instruction_time").and_then(Value::as_f64) {
                    if g.instruction_ms.is_none_or(|(s, _)| seq >= s) {
                        g.instruction_ms = Some((seq, ms));
                    }
                }
            }
            Some("practice_round") => {
                if let Some(a) = unsigned(r.get("attempt")) {
                    let block = unsigned(r.get("block")).unwrap_or(0);
                    g.practice_round_events.insert((block, a));
                }
            }
            _ => {}
        }
    }
    for t in trials {
        let Some(g) = gathered.get_mut(&t.session_id) else {
            continue;
        };
        g.simulated |= t.simulated;
        match t.phase {
            Phase::Practice => {
                g.practice_trial_attempts
                    .insert((t.block.unwrap_or(0), t.attempt.unwrap_or(0)));
            }
            Phase::Main | Phase::Catch => {
                if let Some(ts) = t.timestamp {
                    g.main_block_timestamps.push(ts);
                }
            }
        }
    }

    // Each session's trials, found once (not a scan of every trial per session).
    let mut by_session: BTreeMap<&str, Vec<&Trial>> = BTreeMap::new();
    for t in trials {
        by_session.entry(t.session_id.as_str()).or_default().push(t);
    }
    let mut out = Vec::with_capacity(gathered.len());
    for (session_id, g) in gathered {
        let mine = by_session.remove(session_id.as_str()).unwrap_or_default();
        // A published dataset's verdict: the session passed if none of its trials says
        // otherwise.
        let published = mine
            .iter()
            .filter_map(|t| t.passed_checks)
            .reduce(|a, b| a && b);
        let (mut main, mut catch, mut catch_correct, mut upper, mut lower) = (0, 0, 0, 0, 0);
        for t in mine {
            match t.phase {
                Phase::Practice => continue,
                Phase::Main => main += 1,
                Phase::Catch => {
                    catch += 1;
                    catch_correct += usize::from(t.correct);
                }
            }
            match t.button_pressed {
                Some(b) if b < levels => upper += 1,
                Some(_) => lower += 1,
                None => {}
            }
        }
        let (main_phase_time_s, main_phase_time_from) = match g.completed_main_phase_ms {
            Some(ms) => (Some(ms / 1000.0), Some("session_completed".to_string())),
            None if g.main_block_timestamps.len() >= 2 => {
                let first = g
                    .main_block_timestamps
                    .iter()
                    .copied()
                    .fold(f64::MAX, f64::min);
                let last = g
                    .main_block_timestamps
                    .iter()
                    .copied()
                    .fold(f64::MIN, f64::max);
                (
                    Some((last - first) / 1000.0),
                    Some("trial timestamps".to_string()),
                )
            }
            None => (None, None),
        };
        let practice_rounds = g.completed_practice_rounds.or_else(|| {
            [&g.practice_round_events, &g.practice_trial_attempts]
                .into_iter()
                .find(|s| !s.is_empty())
                .map(|s| s.len() as u64)
        });
        let mut v = SessionVerdict {
            session_id,
            participant_id: g.participant_id,
            passed: false,
            simulated: g.simulated,
            failures: Vec::new(),
            completed: g.completed,
            main_trials: main,
            catch_trials: catch,
            catch_correct,
            upper_row: upper,
            lower_row: lower,
            main_phase_time_s,
            main_phase_time_from,
            instruction_time_s: g.instruction_ms.map(|(_, ms)| ms / 1000.0),
            practice_rounds,
        };
        v.failures = match published {
            None => check(&v, rules, levels),
            Some(true) => Vec::new(),
            Some(false) => vec![Failure {
                rule: Rule::PublishedChecks,
                reason: "the published data marks it as failing its checks (passed_checks)".into(),
            }],
        };
        v.passed = v.failures.is_empty();
        out.push(v);
    }
    out
}

/// The rules `v` fails.
fn check(v: &SessionVerdict, rules: &Exclusion, levels: u64) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut fail = |rule, reason: String| failures.push(Failure { rule, reason });
    let missing = rules.missing_data_fails;

    if let Some(min) = rules.min_catch_accuracy {
        if v.catch_trials == 0 {
            if missing {
                fail(Rule::CatchAccuracy, "no catch trials answered".into());
            }
        } else {
            let share = v.catch_correct as f64 / v.catch_trials as f64;
            // A small tolerance so 4/5 passes 0.8 whatever the rounding.
            if share < min - 1e-12 {
                fail(
                    Rule::CatchAccuracy,
                    format!(
                        "{} of {} catch trials correct ({:.1} %), need at least {:.1} %",
                        v.catch_correct,
                        v.catch_trials,
                        100.0 * share,
                        100.0 * min
                    ),
                );
            }
        }
    }
    if let Some(min) = rules.min_answers_per_row {
        for (rule, n, row, buttons) in [
            (
                Rule::UpperRow,
                v.upper_row,
                "upper",
                format!("button_pressed < {levels}"),
            ),
            (
                Rule::LowerRow,
                v.lower_row,
                "lower",
                format!("button_pressed ≥ {levels}"),
            ),
        ] {
            if n < min {
                fail(
                    rule,
                    format!(
                        "{n} main-block answers in the {row} row ({buttons}), need at least {min}"
                    ),
                );
            }
        }
    }
    match v.main_phase_time_s {
        Some(s) => {
            if let Some(min) = rules.min_main_phase_time_s.filter(|m| s < *m) {
                fail(
                    Rule::MainPhaseTime,
                    format!("main phase took {s:.1} s, need at least {min} s"),
                );
            }
            if let Some(max) = rules.max_main_phase_time_s.filter(|m| s > *m) {
                fail(
                    Rule::MainPhaseTime,
                    format!("main phase took {s:.1} s, allowed at most {max} s"),
                );
            }
        }
        None => {
            let checked =
                rules.min_main_phase_time_s.is_some() || rules.max_main_phase_time_s.is_some();
            if checked && missing {
                fail(
                    Rule::MainPhaseTime,
                    "unknown: no session_completed record and fewer than 2 timed main-block trials"
                        .into(),
                );
            }
        }
    }
    if let Some(min) = rules.min_instruction_time_s {
        match v.instruction_time_s {
            Some(s) if s < min => fail(
                Rule::InstructionTime,
                format!("{s:.1} s on the instructions, need at least {min} s"),
            ),
            Some(_) => {}
            None if missing => fail(
                Rule::InstructionTime,
                "unknown: no instructions_done record (a CSV export has no session events)".into(),
            ),
            None => {}
        }
    }
    if let Some(max) = rules.max_practice_rounds {
        match v.practice_rounds {
            Some(n) if n > max => fail(
                Rule::PracticeRounds,
                format!("{n} practice rounds, allowed at most {max}"),
            ),
            Some(_) => {}
            None if missing => fail(
                Rule::PracticeRounds,
                "unknown: no session_completed, practice_round or practice trial record".into(),
            ),
            None => {}
        }
    }
    failures
}
