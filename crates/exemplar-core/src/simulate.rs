//! A simulated participant, for testing a study's pipeline end to end before paying
//! anyone: the app's `?simulate=0.8` drives a real session with it, and Rust tests can
//! walk a whole session with [`run_session`].
//!
//! The participant picks the strongly activating query with probability `p_correct`
//! (independently per trial), is more confident when right than when wrong, and answers
//! after a log-normal response time that grows as confidence falls, roughly like the
//! original study's participants (median a few seconds, a long right tail). Pages are
//! "read" for a time proportional to their length.
//!
//! Draws come from the plan's generator ([`crate::rng::Rng`]) with a seed of their own, so
//! a simulated session is reproducible; its floating-point transforms (`ln`, `cos`) may
//! differ in the last bit between platforms, which is harmless here (unlike in plans).

use crate::experiment::Experiment;
use crate::plan::{Phase, Plan, PlannedTrial};
use crate::rng::Rng;
use crate::score::{self, Answer, Progress, Stage};

/// One simulated answer to a trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Response {
    /// The button to press (as in [`score::answer`]).
    pub button: u32,
    /// Milliseconds from the moment the buttons unlock to the press.
    pub rt_ms: f64,
}

/// A participant who is correct with a fixed probability.
#[derive(Clone, Debug)]
pub struct Participant {
    p_correct: f64,
    rng: Rng,
}

impl Participant {
    /// `p_correct` must be within 0..=1.
    pub fn new(p_correct: f64, seed: u64) -> Result<Participant, String> {
        if !(0.0..=1.0).contains(&p_correct) {
            return Err(format!(
                "the probability of a correct answer must be between 0 and 1, not {p_correct}"
            ));
        }
        Ok(Participant {
            p_correct,
            rng: Rng::derive(seed, "simulated participant"),
        })
    }

    /// Uniform in [0, 1), from the top 53 bits (exact on every platform).
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1]
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A confidence level in `1..=levels`: high ones likelier when right, low when wrong.
    fn confidence(&mut self, levels: u8, correct: bool) -> u8 {
        let levels = levels.max(1) as u64;
        // Weights 1, 2, …, L (right) or L, …, 1 (wrong).
        let total = levels * (levels + 1) / 2;
        let mut pick = self.rng.below(total);
        for k in 1..=levels {
            let weight = if correct { k } else { levels + 1 - k };
            if pick < weight {
                return k as u8;
            }
            pick -= weight;
        }
        levels as u8
    }

    /// The answer to `trial` with `levels` confidence levels per query.
    pub fn respond(&mut self, trial: &PlannedTrial, levels: u8) -> Response {
        let correct = self.uniform() < self.p_correct;
        let confidence = self.confidence(levels, correct);
        // The max query is on top exactly when the queries are switched.
        let upper = correct == trial.switched_queries;
        let button = if upper {
            confidence as u32 - 1
        } else {
            levels as u32 + confidence as u32 - 1
        };
        let hesitation = 1.0 + 0.2 * (levels - confidence) as f64;
        let rt_ms = (2200.0 * hesitation * (0.45 * self.normal()).exp()).clamp(350.0, 30_000.0);
        Response { button, rt_ms }
    }

    /// How long a page with `words` words is looked at, in milliseconds.
    pub fn reading_ms(&mut self, words: usize) -> f64 {
        let base = 1200.0 + 240.0 * words as f64; // 250 words a minute
        (base * (0.25 * self.normal()).exp()).min(120_000.0)
    }
}

/// One answered trial of a simulated session.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedTrial {
    /// The trial as planned.
    pub trial: PlannedTrial,
    /// Its index in its block.
    pub index: u32,
    /// The practice round (0 for the main block).
    pub attempt: u32,
    /// Its page (which block it is in).
    pub stage: Stage,
    /// The scored answer.
    pub answer: Answer,
    /// The simulated response time.
    pub rt_ms: f64,
}

/// Walks a whole session with the same state machine the app uses, answering every
/// trial with `participant`; returns the answered trials in order.
pub fn run_session(
    exp: &Experiment,
    plan: &Plan,
    participant: &mut Participant,
) -> Vec<SimulatedTrial> {
    let mut progress = Progress::default();
    let mut out = Vec::new();
    // Every page advances once; bounded by the longest possible session.
    let limit = 16
        + exp.pages.instructions.len()
        + plan
            .blocks
            .iter()
            .map(|b| {
                4 + exp.condition_of(b).instructions.len()
                    + b.practice.iter().map(|r| r.len() + 1).sum::<usize>() * 2
                    + b.main.len()
            })
            .sum::<usize>();
    for _ in 0..limit * 2 {
        if progress.stage == Stage::End {
            break;
        }
        if let (Some(trial), Some((attempt, index))) = (
            progress.trial(plan).cloned(),
            progress.stage.trial_position(),
        ) {
            let response = participant.respond(&trial, exp.confidence_levels);
            let answer = score::answer(
                response.button,
                exp.confidence_levels,
                trial.switched_queries,
            )
            .expect("simulated buttons exist");
            progress.answer(trial.phase, answer.correct);
            out.push(SimulatedTrial {
                trial,
                index,
                attempt,
                stage: progress.stage.clone(),
                answer,
                rt_ms: response.rt_ms,
            });
            progress.finish_trial(exp, plan);
        } else {
            progress.advance(exp, plan);
        }
    }
    out
}

/// Proportion correct over the main block's non-catch trials of a simulated session.
pub fn main_accuracy(trials: &[SimulatedTrial]) -> Option<f64> {
    let main: Vec<_> = trials
        .iter()
        .filter(|t| t.trial.phase == Phase::Main)
        .collect();
    (!main.is_empty())
        .then(|| main.iter().filter(|t| t.answer.correct).count() as f64 / main.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Experiment {
        Experiment::from_json(include_str!("../../../demo/experiment.json")).unwrap()
    }

    #[test]
    fn rejects_probabilities_outside_0_1() {
        assert!(Participant::new(1.2, 1).is_err());
        assert!(Participant::new(-0.1, 1).is_err());
        assert!(Participant::new(f64::NAN, 1).is_err());
        assert!(Participant::new(0.0, 1).is_ok());
    }

    #[test]
    fn a_perfect_participant_passes_practice_at_once_and_is_always_right() {
        let exp = demo();
        let plan = Plan::for_participant(&exp, "sim-perfect");
        let trials = run_session(&exp, &plan, &mut Participant::new(1.0, 9).unwrap());
        assert!(trials.iter().all(|t| t.answer.correct));
        let practice = trials
            .iter()
            .filter(|t| t.trial.phase == Phase::Practice)
            .count();
        assert_eq!(practice, plan.blocks[0].practice[0].len());
        assert_eq!(trials.len() - practice, plan.blocks[0].main.len());
        // Each main trial of the plan, in order.
        let main: Vec<_> = trials
            .iter()
            .filter(|t| t.trial.phase != Phase::Practice)
            .collect();
        for (i, t) in main.iter().enumerate() {
            assert_eq!(t.trial, plan.blocks[0].main[i]);
            assert_eq!(t.index, i as u32);
        }
    }

    #[test]
    fn an_always_wrong_participant_uses_every_practice_round() {
        let exp = demo();
        let plan = Plan::for_participant(&exp, "sim-wrong");
        let trials = run_session(&exp, &plan, &mut Participant::new(0.0, 9).unwrap());
        assert!(trials.iter().all(|t| !t.answer.correct));
        let rounds: std::collections::BTreeSet<u32> = trials
            .iter()
            .filter(|t| t.trial.phase == Phase::Practice)
            .map(|t| t.attempt)
            .collect();
        assert_eq!(rounds.len() as u32, exp.practice.max_attempts);
        assert_eq!(main_accuracy(&trials), Some(0.0));
    }

    #[test]
    fn accuracy_rts_and_confidence_are_plausible_over_many_trials() {
        let exp = demo();
        let mut p = Participant::new(0.8, 2024).unwrap();
        let (mut correct, mut n) = (0u32, 0u32);
        let mut rts = Vec::new();
        let (mut conf_right, mut conf_wrong) = (Vec::new(), Vec::new());
        for k in 0..400 {
            let plan = Plan::for_participant(&exp, &format!("sim-{k}"));
            for t in run_session(&exp, &plan, &mut p) {
                if t.trial.phase == Phase::Main {
                    n += 1;
                    correct += t.answer.correct as u32;
                }
                rts.push(t.rt_ms);
                let c = t.answer.confidence as f64;
                if t.answer.correct {
                    conf_right.push(c)
                } else {
                    conf_wrong.push(c)
                }
            }
        }
        // 4,000 main trials at p = 0.8: sd of the proportion is 0.0063.
        let acc = correct as f64 / n as f64;
        assert!((acc - 0.8).abs() < 0.03, "accuracy {acc} over {n}");
        rts.sort_by(f64::total_cmp);
        let median = rts[rts.len() / 2];
        assert!((1500.0..5000.0).contains(&median), "median RT {median}");
        assert!(rts[0] >= 350.0 && *rts.last().unwrap() <= 30_000.0);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&conf_right) > mean(&conf_wrong) + 0.5);
    }

    #[test]
    fn the_same_seed_gives_the_same_session() {
        let exp = demo();
        let plan = Plan::for_participant(&exp, "sim-seed");
        let a = run_session(&exp, &plan, &mut Participant::new(0.7, 5).unwrap());
        let b = run_session(&exp, &plan, &mut Participant::new(0.7, 5).unwrap());
        assert_eq!(a, b);
        let c = run_session(&exp, &plan, &mut Participant::new(0.7, 6).unwrap());
        assert_ne!(a, c);
    }
}
