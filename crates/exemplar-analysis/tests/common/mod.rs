//! Fixture sessions written as the client would record them.
#![allow(dead_code)]

use serde_json::{json, Value};

/// One session to record: every field is what the exclusion rules look at.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    /// Main (non-catch) trials: (model, unit_id, correct).
    pub main: Vec<(String, String, bool)>,
    pub catch_total: usize,
    pub catch_correct: usize,
    /// Main-block answers (main, then catch) in the upper row; the rest are lower.
    pub upper: usize,
    /// `session_completed.main_phase_time`; `None` leaves the record out.
    pub main_phase_ms: Option<f64>,
    /// `instructions_done.instruction_time`; `None` leaves the record out.
    pub instruction_ms: Option<f64>,
    pub practice_rounds: u64,
    /// Whether to write `session_completed`.
    pub completed: bool,
    /// ms between main-block responses (timestamps).
    pub trial_gap_ms: f64,
}

impl Session {
    /// A session that passes every rule: 12 main trials on `main`, 5 of 5 catch trials,
    /// 9 upper and 8 lower answers, 600 s main phase, 60 s instructions, 1 practice round.
    pub fn passing(id: &str, main: &[(&str, &str, bool)]) -> Session {
        let main: Vec<(String, String, bool)> = main
            .iter()
            .map(|(m, u, c)| (m.to_string(), u.to_string(), *c))
            .collect();
        let answers = main.len() + 5;
        Session {
            id: id.to_string(),
            main,
            catch_total: 5,
            catch_correct: 5,
            upper: answers.div_ceil(2),
            main_phase_ms: Some(600_000.0),
            instruction_ms: Some(60_000.0),
            practice_rounds: 1,
            completed: true,
            trial_gap_ms: 30_000.0,
        }
    }

    /// `n` main trials on one unit, alternately correct.
    pub fn default_main(n: usize) -> Vec<(&'static str, &'static str, bool)> {
        (0..n).map(|i| ("m", "u", i % 2 == 0)).collect()
    }

    /// The session's records, `seq` from 0.
    pub fn records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seq = 0u64;
        let t0 = 1_700_000_000_000.0;
        let id = self.id.clone();
        let mut push = |body: Value, ts: f64| {
            let mut r = json!({
                "record_id": format!("{id}-{seq}"),
                "format": "exemplar.record/1",
                "session_id": id,
                "participant_id": format!("p-{id}"),
                "participant_id_source": "pid",
                "experiment_id": "x",
                "experiment_version": "1",
                "seq": seq,
                "time_elapsed": ts - t0,
                "timestamp": ts,
            });
            for (k, v) in body.as_object().unwrap() {
                r[k] = v.clone();
            }
            out.push(r);
            seq += 1;
        };
        push(json!({"type": "session_started"}), t0);
        if let Some(ms) = self.instruction_ms {
            push(
                json!({"type": "instructions_done", "instruction_time": ms, "pages_visited": [0, 1]}),
                t0 + 1000.0,
            );
        }
        for round in 0..self.practice_rounds {
            for k in 0..5 {
                push(
                    trial("practice", round, k, "catchmodel", "p", true, 0, 2000.0),
                    t0 + 2000.0,
                );
            }
            let next = if round + 1 == self.practice_rounds {
                "main"
            } else {
                "repeat"
            };
            push(
                json!({"type": "practice_round", "attempt": round, "correct": 5, "answered": 5, "next": next}),
                t0 + 2000.0,
            );
        }
        let start = t0 + 10_000.0;
        let mut i = 0usize;
        let button = |i: usize, upper: usize| {
            if i < upper {
                (i % 3) as u64
            } else {
                3 + (i % 3) as u64
            }
        };
        for (k, (model, unit, correct)) in self.main.iter().enumerate() {
            let mut t = trial(
                "main",
                0,
                k as u64,
                model,
                unit,
                *correct,
                button(i, self.upper),
                1500.0 + 100.0 * k as f64,
            );
            t["confidence"] = json!(1 + (k % 3));
            push(t, start + i as f64 * self.trial_gap_ms);
            i += 1;
        }
        for c in 0..self.catch_total {
            let correct = c < self.catch_correct;
            push(
                trial(
                    "catch",
                    0,
                    i as u64,
                    "catchmodel",
                    "c",
                    correct,
                    button(i, self.upper),
                    1200.0,
                ),
                start + i as f64 * self.trial_gap_ms,
            );
            i += 1;
        }
        if self.completed {
            let main_correct = self.main.iter().filter(|m| m.2).count();
            let mut body = json!({
                "type": "session_completed",
                "main_correct": main_correct,
                "catch_correct": self.catch_correct,
                "answered": i,
                "practice_rounds": self.practice_rounds,
            });
            if let Some(ms) = self.main_phase_ms {
                body["main_phase_time"] = json!(ms);
            }
            push(body, start + i as f64 * self.trial_gap_ms);
        }
        out
    }
}

/// A trial record's body.
#[allow(clippy::too_many_arguments)]
pub fn trial(
    phase: &str,
    attempt: u64,
    index: u64,
    model: &str,
    unit: &str,
    correct: bool,
    button: u64,
    rt: f64,
) -> Value {
    json!({
        "type": "trial",
        "phase": phase,
        "trial_index": index,
        "attempt": attempt,
        "is_demo": phase == "practice",
        "catch_trial": phase == "catch",
        "unit_id": unit,
        "model": model,
        "layer": "layer1",
        "channel": 7,
        "batch": 0,
        "mode": if phase == "catch" { "catch_trial" } else { "natural" },
        "rt": rt,
        "rt_dom": rt + 30.0,
        "button_pressed": button,
        "confidence": 1 + button % 3,
        "choice": if correct { "b" } else { "a" },
        "correct": correct,
    })
}
