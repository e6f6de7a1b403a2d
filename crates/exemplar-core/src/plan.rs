//! The plan of one session, computed up front from a seed.
//!
//! Everything random about a session is decided here and nowhere else: which (unit,
//! batch) pairs it gets, their order with the catch trials, the order of each grid's
//! references (the most extreme one stays first) and which query is on top. The app
//! only walks the plan, so a reload (or the researcher's preview) rebuilds it exactly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::experiment::{Draw, Experiment, Mode, Unit, FIXED_REFERENCE};
use crate::rng::{hash_seed, Rng};
use crate::score::Stage;

/// Which block a trial belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A practice trial (the original data's `is_demo`).
    Practice,
    /// A main trial of a real unit.
    Main,
    /// A catch trial, shown in the main block.
    Catch,
}

impl Phase {
    /// Whether the trial is in the main block (a main or catch trial): it has the block's
    /// counter and progress bar, and its answers time the main phase.
    pub fn in_main_block(self) -> bool {
        self != Phase::Practice
    }
}

/// The unit a trial shows, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnitRef {
    /// The unit's id in the experiment file.
    pub unit_id: String,
    /// Model name.
    pub model: String,
    /// Layer (tensor) name.
    pub layer: String,
    /// Channel index.
    pub channel: u32,
    /// The batch number.
    pub batch: u32,
    /// Kind of references.
    pub mode: Mode,
}

/// One trial exactly as it will be shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedTrial {
    /// Practice, main or catch.
    pub phase: Phase,
    /// The unit and batch.
    pub unit: UnitRef,
    /// The 9 minimally activating references in display order (row by row); the first is
    /// the batch's most extreme (`min_8`).
    pub min_references: Vec<String>,
    /// The 9 maximally activating references in display order; the first is `max_8`.
    pub max_references: Vec<String>,
    /// The weakly activating query (`min_9`, the original data's choice "a").
    pub min_query: String,
    /// The strongly activating query (`max_9`, choice "b", the correct answer).
    pub max_query: String,
    /// `false`: the min query is on top (as in the original client's unswitched order);
    /// `true`: the max query is on top.
    pub switched_queries: bool,
}

impl PlannedTrial {
    /// The stimulus shown in the upper query position.
    pub fn upper_query(&self) -> &str {
        if self.switched_queries {
            &self.max_query
        } else {
            &self.min_query
        }
    }

    /// The stimulus shown in the lower query position.
    pub fn lower_query(&self) -> &str {
        if self.switched_queries {
            &self.min_query
        } else {
            &self.max_query
        }
    }

    /// Every image the trial shows (references first, then upper and lower query).
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.min_references
            .iter()
            .chain(&self.max_references)
            .map(String::as_str)
            .chain([self.upper_query(), self.lower_query()])
    }
}

/// The whole plan of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The seed it was computed from.
    pub seed: u64,
    /// One practice round per allowed attempt (each round reshuffled).
    pub practice: Vec<Vec<PlannedTrial>>,
    /// The main block: main and catch trials, shuffled together.
    pub main: Vec<PlannedTrial>,
}

impl Plan {
    /// The seed of a participant: the same id gives the same plan of the same experiment.
    pub fn seed_for(exp: &Experiment, participant_id: &str) -> u64 {
        hash_seed(&format!("{}\u{1f}{}", exp.id, participant_id))
    }

    /// A stable fingerprint of the plan's content (16 hex digits): FNV-1a 64 over its JSON,
    /// written out here so it never changes with a dependency or the Rust version. Saved
    /// progress carries it; a plan that no longer matches is refused.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", hash_seed(&json))
    }

    /// The plan of the participant with this id.
    pub fn for_participant(exp: &Experiment, participant_id: &str) -> Plan {
        Plan::new(exp, Plan::seed_for(exp, participant_id))
    }

    /// The plan for a seed. The experiment must have passed validation (enough batches
    /// for the session's trials); if it has not, the block is as long as it can be.
    pub fn new(exp: &Experiment, seed: u64) -> Plan {
        let practice_pairs: Vec<(&Unit, usize)> = exp
            .practice
            .trials
            .iter()
            .flat_map(|u| (0..u.batches.len()).map(move |b| (u, b)))
            .collect();
        let practice = (0..exp.practice.max_attempts)
            .map(|attempt| {
                let mut rng = Rng::derive(seed, &format!("practice/{attempt}"));
                let mut trials: Vec<Drawn> = practice_pairs
                    .iter()
                    .map(|&(u, b)| (Phase::Practice, u, b))
                    .collect();
                rng.shuffle(&mut trials);
                build_block(exp, trials, &mut rng)
            })
            .collect();

        let mut rng = Rng::derive(seed, "main");
        let mut trials: Vec<Drawn> = draw(
            &exp.units,
            exp.session.main_trials as usize,
            exp.session.draw,
            &mut rng,
        )
        .into_iter()
        .map(|(u, b)| (Phase::Main, u, b))
        .chain(
            draw(
                &exp.catch_units,
                exp.session.catch_trials as usize,
                Draw::Random,
                &mut rng,
            )
            .into_iter()
            .map(|(u, b)| (Phase::Catch, u, b)),
        )
        .collect();
        rng.shuffle(&mut trials);
        let main = build_block(exp, trials, &mut rng);
        Plan {
            seed,
            practice,
            main,
        }
    }
}

impl Plan {
    /// The trial a stage shows, if it is a trial stage inside this plan.
    pub fn trial(&self, stage: &Stage) -> Option<&PlannedTrial> {
        match *stage {
            Stage::Practice { attempt, index } => {
                self.practice.get(attempt as usize)?.get(index as usize)
            }
            Stage::Main { index } => self.main.get(index as usize),
            _ => None,
        }
    }

    /// Every trial stage of the plan in order: each practice round, then the main block
    /// (the preview's list of the plan).
    pub fn trial_stages(&self) -> Vec<Stage> {
        let practice = self.practice.iter().enumerate().flat_map(|(a, round)| {
            (0..round.len()).map(move |i| Stage::Practice {
                attempt: a as u32,
                index: i as u32,
            })
        });
        let main = (0..self.main.len()).map(|i| Stage::Main { index: i as u32 });
        practice.chain(main).collect()
    }

    /// The trial stage before or after `from` in [`Plan::trial_stages`], staying at the
    /// first or last; the first trial if `from` is not a trial of the plan. `None` only for
    /// a plan without trials.
    pub fn step_trial(&self, from: &Stage, forward: bool) -> Option<Stage> {
        let stages = self.trial_stages();
        let next = match stages.iter().position(|s| s == from) {
            Some(i) if forward => i + 1,
            Some(i) => i.saturating_sub(1),
            None => 0,
        };
        stages
            .get(next.min(stages.len().saturating_sub(1)))
            .cloned()
    }

    /// The (at most `n`) trials that follow the trial of `stage`, to load ahead: the rest
    /// of a practice round runs on into the main block (the first main trials follow the
    /// last practice trial). Empty on pages that are not trials.
    pub fn upcoming(&self, stage: &Stage, n: usize) -> Vec<&PlannedTrial> {
        match *stage {
            Stage::Practice { attempt, index } => {
                let round = self.practice.get(attempt as usize);
                let rest = round.into_iter().flatten().skip(index as usize + 1);
                rest.chain(self.main.iter()).take(n).collect()
            }
            Stage::Main { index } => self.main.iter().skip(index as usize + 1).take(n).collect(),
            _ => Vec::new(),
        }
    }

    /// Replacements for a main trial whose stimuli failed a check: the batches of its unit
    /// that this plan's main block does not use, in batch order, each laid out as a
    /// planned trial (its own seeded grid order) with the original's query position, so
    /// the block's balance of query positions is kept. Empty for practice and catch trials.
    pub fn spares(&self, exp: &Experiment, trial: &PlannedTrial) -> Vec<PlannedTrial> {
        if trial.phase != Phase::Main {
            return Vec::new();
        }
        let Some(unit) = exp.units.iter().find(|u| u.id == trial.unit.unit_id) else {
            return Vec::new();
        };
        let used = |batch: u32| {
            self.main
                .iter()
                .any(|t| t.unit.unit_id == unit.id && t.unit.batch == batch)
        };
        (0..unit.batches.len())
            .filter(|&b| !used(unit.batches[b].batch))
            .map(|b| {
                let purpose = format!("spare/{}/{}", unit.id, unit.batches[b].batch);
                let mut rng = Rng::derive(self.seed, &purpose);
                let mut t = build_block(exp, vec![(Phase::Main, unit, b)], &mut rng).remove(0);
                t.switched_queries = trial.switched_queries;
                t
            })
            .collect()
    }
}

/// Draws `n` distinct (unit, batch index) pairs by the rule.
fn draw<'a>(units: &'a [Unit], n: usize, rule: Draw, rng: &mut Rng) -> Vec<(&'a Unit, usize)> {
    let mut out = Vec::with_capacity(n);
    match rule {
        Draw::First => {
            out.extend(
                units
                    .iter()
                    .flat_map(|u| (0..u.batches.len()).map(move |b| (u, b)))
                    .take(n),
            );
        }
        Draw::Random => {
            // Each unit's batches in random order; rounds take one batch of each unit.
            let mut left: Vec<Vec<usize>> = units
                .iter()
                .map(|u| {
                    let mut b: Vec<usize> = (0..u.batches.len()).collect();
                    rng.shuffle(&mut b);
                    b
                })
                .collect();
            while out.len() < n {
                let mut round: Vec<usize> =
                    (0..units.len()).filter(|&u| !left[u].is_empty()).collect();
                if round.is_empty() {
                    break;
                }
                rng.shuffle(&mut round);
                for u in round {
                    if out.len() == n {
                        break;
                    }
                    if let Some(b) = left[u].pop() {
                        out.push((&units[u], b));
                    }
                }
            }
        }
    }
    out
}

/// A drawn trial: its phase, unit and batch index.
type Drawn<'a> = (Phase, &'a Unit, usize);

/// Turns drawn trials (already in presentation order) into planned trials: balances which
/// query is on top (half each way, the odd one random) and shuffles each grid after its
/// first reference.
fn build_block(exp: &Experiment, tagged: Vec<Drawn>, rng: &mut Rng) -> Vec<PlannedTrial> {
    let n = tagged.len();
    let mut switched: Vec<bool> = (0..n).map(|i| i < n / 2).collect();
    if n % 2 == 1 {
        switched[n - 1] = rng.below(2) == 1;
    }
    rng.shuffle(&mut switched);

    tagged
        .into_iter()
        .zip(switched)
        .map(|((phase, unit, b), switched_queries)| {
            let batch = &unit.batches[b];
            let files = exp.batch_files(batch);
            PlannedTrial {
                phase,
                unit: UnitRef {
                    unit_id: unit.id.clone(),
                    model: unit.model.clone(),
                    layer: unit.layer.clone(),
                    channel: unit.channel,
                    batch: batch.batch,
                    mode: unit.mode,
                },
                min_references: grid_order(files.min_references, rng),
                max_references: grid_order(files.max_references, rng),
                min_query: files.min_query,
                max_query: files.max_query,
                switched_queries,
            }
        })
        .collect()
}

/// The most extreme reference first, the other eight shuffled.
fn grid_order(mut files: Vec<String>, rng: &mut Rng) -> Vec<String> {
    let fixed = files.remove(FIXED_REFERENCE);
    rng.shuffle(&mut files);
    files.insert(0, fixed);
    files
}
