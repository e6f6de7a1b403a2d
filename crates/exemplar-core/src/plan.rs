//! The plan of one session, computed up front from a seed.
//!
//! Everything random about a session is decided here and nowhere else: which (unit,
//! batch) pairs it gets, their order with the catch trials, the order of each grid's
//! references (the most extreme one stays first) and which query is on top. The app
//! only walks the plan, so a reload (or the researcher's preview) rebuilds it exactly.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::experiment::{
    Condition, Draw, Experiment, Group, Mode, Order, Practice, References, Unit, FIXED_REFERENCE,
};
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
    /// The participant's group (`design.groups`), if the experiment has a design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The session's blocks in the order they are run (one without a design).
    pub blocks: Vec<BlockPlan>,
}

/// One block of a session: its condition's practice rounds and its main trials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlockPlan {
    /// The block's condition (a key of `conditions`); none without a design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// One practice round per allowed attempt (each round reshuffled).
    pub practice: Vec<Vec<PlannedTrial>>,
    /// The main and catch trials, shuffled together.
    pub main: Vec<PlannedTrial>,
}

/// A `?condition=` that names no group of the experiment's design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownGroup(pub String);

impl std::fmt::Display for UnknownGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "the link names condition {:?}, which this experiment does not have",
            self.0
        )
    }
}

/// [`Condition::PARADIGM`], for the references a plan hands out.
static PARADIGM: Condition = Condition::PARADIGM;

/// A block's condition resolved against the experiment.
struct BlockSpec<'a> {
    /// The condition's name (none without a design).
    name: Option<&'a str>,
    condition: &'a Condition,
    units: Vec<&'a Unit>,
    practice: &'a Practice,
    main_trials: u32,
    catch_trials: u32,
}

impl<'a> BlockSpec<'a> {
    /// The single block of an experiment without a design.
    fn paradigm(exp: &'a Experiment) -> Self {
        BlockSpec {
            name: None,
            condition: &PARADIGM,
            units: exp.units.iter().collect(),
            practice: &exp.practice,
            main_trials: exp.session.main_trials,
            catch_trials: exp.session.catch_trials,
        }
    }

    /// The block of a named condition (an unknown name gives an empty block; `validate`
    /// refuses such an experiment).
    fn named(exp: &'a Experiment, name: &'a str) -> Self {
        let Some(condition) = exp.conditions.get(name) else {
            return BlockSpec {
                name: Some(name),
                condition: &PARADIGM,
                units: Vec::new(),
                practice: &exp.practice,
                main_trials: 0,
                catch_trials: 0,
            };
        };
        BlockSpec {
            name: Some(name),
            condition,
            units: exp.condition_units(condition),
            practice: condition.practice.as_ref().unwrap_or(&exp.practice),
            main_trials: condition.main_trials.unwrap_or(exp.session.main_trials),
            catch_trials: match (condition.catch_trials, condition.references) {
                (Some(n), _) => n,
                (None, References::None) => 0,
                (None, _) => exp.session.catch_trials,
            },
        }
    }
}

impl Experiment {
    /// The units a condition draws its main trials from: its `units` by id (in the
    /// experiment's order), else every unit of its kind of references (`none`: natural).
    pub fn condition_units(&self, condition: &Condition) -> Vec<&Unit> {
        let mode = match condition.references {
            References::Optimized => Mode::Optimized,
            References::Natural | References::None => Mode::Natural,
        };
        self.units
            .iter()
            .filter(|u| match &condition.units {
                Some(ids) => ids.contains(&u.id),
                None => u.mode == mode,
            })
            .collect()
    }

    /// The condition of a block of a plan (the paradigm's for a plan without a design).
    pub fn condition_of(&self, block: &BlockPlan) -> &Condition {
        block
            .condition
            .as_deref()
            .and_then(|name| self.conditions.get(name))
            .unwrap_or(&PARADIGM)
    }
}

/// The number a participant's group and block order are balanced by: a decimal id
/// (`17`, `0042`) is its own number, so consecutive ids take turns exactly; any other id is
/// hashed (balanced on average).
pub fn participant_number(exp: &Experiment, participant_id: &str) -> u64 {
    let digits = participant_id.len() <= 18
        && !participant_id.is_empty()
        && participant_id.bytes().all(|b| b.is_ascii_digit());
    if digits {
        participant_id.parse().unwrap_or(0)
    } else {
        hash_seed(&format!("{}\u{1f}{}\u{1f}design", exp.id, participant_id))
    }
}

/// A balanced Latin square (Williams design) of `n` items: every item once in every
/// position and, for each ordered pair, once (`n` even; twice over the `2n` rows for `n`
/// odd) directly after the other. Rows are the orders participants take in turn.
pub fn latin_square(n: usize) -> Vec<Vec<usize>> {
    (0..latin_square_rows(n))
        .map(|r| latin_square_row(n, r))
        .collect()
}

/// How many rows [`latin_square`] has: `n`, or `2n` for odd `n` above 1.
pub fn latin_square_rows(n: usize) -> usize {
    if n % 2 == 1 && n > 1 {
        2 * n
    } else {
        n.max(1)
    }
}

/// Row `r` of [`latin_square`] (`r` below [`latin_square_rows`]), without building the
/// square: 0, 1, n-1, 2, n-2, … shifted by `r`; for odd `n` the rows from `n` on are the
/// first `n` reversed.
pub fn latin_square_row(n: usize, r: usize) -> Vec<usize> {
    let (shift, reversed) = if r >= n { (r - n, true) } else { (r, false) };
    let mut row: Vec<usize> = (0..n)
        .map(|i| {
            let first = if i % 2 == 1 {
                i / 2 + 1
            } else {
                (n - i / 2) % n
            };
            (first + shift) % n
        })
        .collect();
    if reversed {
        row.reverse();
    }
    row
}

impl Plan {
    /// The seed of a participant: the same id gives the same plan of the same experiment.
    pub fn seed_for(exp: &Experiment, participant_id: &str) -> u64 {
        hash_seed(&format!("{}\u{1f}{}", exp.id, participant_id))
    }

    /// A stable fingerprint of the plan's content (16 hex digits): FNV-1a 64 over its JSON,
    /// written out here so it never changes with a dependency or the Rust version. Saved
    /// progress carries it; a plan that no longer matches is refused. A plan without a
    /// design is hashed in the form it had before designs (`seed`, `practice`, `main`), so
    /// sessions in progress keep their plan across an upgrade.
    pub fn hash(&self) -> String {
        #[derive(Serialize)]
        struct Single<'a> {
            seed: u64,
            practice: &'a [Vec<PlannedTrial>],
            main: &'a [PlannedTrial],
        }
        let json = match self.blocks.as_slice() {
            [only] if self.group.is_none() && only.condition.is_none() => {
                serde_json::to_string(&Single {
                    seed: self.seed,
                    practice: &only.practice,
                    main: &only.main,
                })
            }
            _ => serde_json::to_string(self),
        };
        format!("{:016x}", hash_seed(&json.unwrap_or_default()))
    }

    /// The plan of the participant with this id (group balanced by the id).
    pub fn for_participant(exp: &Experiment, participant_id: &str) -> Plan {
        let seed = Plan::seed_for(exp, participant_id);
        Plan::build(exp, seed, participant_number(exp, participant_id), None)
    }

    /// The plan of a participant whose link may name a group (`?condition=`); an experiment
    /// without a design ignores it.
    pub fn for_link(
        exp: &Experiment,
        participant_id: &str,
        condition: Option<&str>,
    ) -> Result<Plan, UnknownGroup> {
        // Without a design the parameter means nothing, as before designs.
        let (Some(name), Some(design)) = (condition, exp.design.as_ref()) else {
            return Ok(Plan::for_participant(exp, participant_id));
        };
        let groups = &design.groups[..];
        let Some(g) = groups.iter().position(|g| g.name == name) else {
            return Err(UnknownGroup(name.to_string()));
        };
        let seed = Plan::seed_for(exp, participant_id);
        let number = participant_number(exp, participant_id);
        Ok(Plan::build(exp, seed, number, Some(g)))
    }

    /// The plan for a seed (the group and block order balanced by the seed). The
    /// experiment must have passed validation (enough batches for the session's trials);
    /// if it has not, each block is as long as it can be.
    pub fn new(exp: &Experiment, seed: u64) -> Plan {
        Plan::build(exp, seed, seed, None)
    }

    fn build(exp: &Experiment, seed: u64, number: u64, group: Option<usize>) -> Plan {
        let Some(design) = exp.design.as_ref().filter(|d| !d.groups.is_empty()) else {
            return Plan {
                seed,
                group: None,
                blocks: vec![plan_block(exp, &BlockSpec::paradigm(exp), seed, "")],
            };
        };
        let n_groups = design.groups.len() as u64;
        let g = group.unwrap_or((number % n_groups) as usize);
        let group = &design.groups[g];
        // The turn within the group: consecutive participants of a group take the next row.
        let turn = number / n_groups;
        let order = block_order(group, turn, seed);
        let blocks = order
            .iter()
            .enumerate()
            .map(|(b, &i)| {
                let spec = BlockSpec::named(exp, &group.blocks[i]);
                plan_block(exp, &spec, seed, &format!("block/{b}/"))
            })
            .collect();
        Plan {
            seed,
            group: Some(group.name.clone()),
            blocks,
        }
    }
}

/// The order of a group's blocks for a participant's turn: indices into `group.blocks`.
fn block_order(group: &Group, turn: u64, seed: u64) -> Vec<usize> {
    let n = group.blocks.len();
    let first = (group.fixed_first as usize).min(n);
    let last = (group.fixed_last as usize).min(n - first);
    let middle: Vec<usize> = (first..n - last).collect();
    let moved: Vec<usize> = match group.order {
        Order::Fixed => middle,
        Order::LatinSquare => {
            let rows = latin_square_rows(middle.len()) as u64;
            let row = latin_square_row(middle.len(), (turn % rows) as usize);
            row.iter().map(|&k| middle[k]).collect()
        }
        Order::Random => {
            let mut m = middle;
            Rng::derive(seed, "design/order").shuffle(&mut m);
            m
        }
    };
    (0..first).chain(moved).chain(n - last..n).collect()
}

/// One block's practice rounds and main trials; `purpose` prefixes its generators'
/// purposes (empty for the single block of a plan without a design, whose purposes are
/// the ones plans had before designs).
fn plan_block(exp: &Experiment, spec: &BlockSpec, seed: u64, purpose: &str) -> BlockPlan {
    let practice_pairs: Vec<(&Unit, usize)> = spec
        .practice
        .trials
        .iter()
        .flat_map(|u| (0..u.batches.len()).map(move |b| (u, b)))
        .collect();
    let practice = (0..spec.practice.max_attempts)
        .map(|attempt| {
            let mut rng = Rng::derive(seed, &format!("{purpose}practice/{attempt}"));
            let mut trials: Vec<Drawn> = practice_pairs
                .iter()
                .map(|&(u, b)| (Phase::Practice, u, b))
                .collect();
            rng.shuffle(&mut trials);
            build_block(exp, spec, trials, &mut rng)
        })
        .collect();

    let mut rng = Rng::derive(seed, &format!("{purpose}main"));
    let catch_units: Vec<&Unit> = exp.catch_units.iter().collect();
    let mut trials: Vec<Drawn> = draw(
        &spec.units,
        spec.main_trials as usize,
        exp.session.draw,
        &mut rng,
    )
    .into_iter()
    .map(|(u, b)| (Phase::Main, u, b))
    .chain(
        draw(
            &catch_units,
            spec.catch_trials as usize,
            Draw::Random,
            &mut rng,
        )
        .into_iter()
        .map(|(u, b)| (Phase::Catch, u, b)),
    )
    .collect();
    rng.shuffle(&mut trials);
    let main = build_block(exp, spec, trials, &mut rng);
    BlockPlan {
        condition: spec.name.map(str::to_string),
        practice,
        main,
    }
}

impl Plan {
    /// The block a stage is in, if the stage belongs to a block.
    pub fn block(&self, stage: &Stage) -> Option<&BlockPlan> {
        self.blocks.get(stage.block()? as usize)
    }

    /// The trial a stage shows, if it is a trial stage inside this plan.
    pub fn trial(&self, stage: &Stage) -> Option<&PlannedTrial> {
        match *stage {
            Stage::Practice {
                block,
                attempt,
                index,
            } => self
                .blocks
                .get(block as usize)?
                .practice
                .get(attempt as usize)?
                .get(index as usize),
            Stage::Main { block, index } => {
                self.blocks.get(block as usize)?.main.get(index as usize)
            }
            _ => None,
        }
    }

    /// Main trials of every block (catch trials included).
    pub fn main_count(&self) -> usize {
        self.blocks.iter().map(|b| b.main.len()).sum()
    }

    /// The position of main trial `index` of block `block` among the main trials of all
    /// blocks in order (for one block, `index`): how saved progress keys a replaced trial.
    pub fn main_position(&self, block: u32, index: u32) -> u32 {
        let before: usize = self
            .blocks
            .iter()
            .take(block as usize)
            .map(|b| b.main.len())
            .sum();
        before as u32 + index
    }

    /// The main trials still ahead on `stage` (not shown yet), with their stages: after the
    /// current main trial, or from the current block's first main trial on its other pages;
    /// all of them before the first block, none after the last.
    pub fn main_ahead(&self, stage: &Stage) -> Vec<(Stage, &PlannedTrial)> {
        let first = match *stage {
            Stage::Main { block, index } => self.main_position(block, index) + 1,
            _ => match stage.block() {
                Some(block) => self.main_position(block, 0),
                None if matches!(stage, Stage::Feedback | Stage::End) => u32::MAX,
                None => 0,
            },
        };
        let mut out = Vec::new();
        let mut position = 0u32;
        for (b, block) in self.blocks.iter().enumerate() {
            for (i, t) in block.main.iter().enumerate() {
                if position >= first {
                    let stage = Stage::Main {
                        block: b as u32,
                        index: i as u32,
                    };
                    out.push((stage, t));
                }
                position += 1;
            }
        }
        out
    }

    /// Every trial stage of the plan in order: each block's practice rounds, then its
    /// main trials (the preview's list of the plan).
    pub fn trial_stages(&self) -> Vec<Stage> {
        let mut out = Vec::new();
        for (b, block) in self.blocks.iter().enumerate() {
            let block_index = b as u32;
            for (a, round) in block.practice.iter().enumerate() {
                out.extend((0..round.len()).map(|i| Stage::Practice {
                    block: block_index,
                    attempt: a as u32,
                    index: i as u32,
                }));
            }
            out.extend((0..block.main.len()).map(|i| Stage::Main {
                block: block_index,
                index: i as u32,
            }));
        }
        out
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
    /// of a practice round runs on into its block's main trials, and a block's last trials
    /// into the next block's first practice round and main trials. Empty on pages that are
    /// not trials.
    pub fn upcoming(&self, stage: &Stage, n: usize) -> Vec<&PlannedTrial> {
        let later = |block: u32| {
            self.blocks
                .iter()
                .skip(block as usize + 1)
                .flat_map(|b| b.practice.iter().take(1).flatten().chain(&b.main))
        };
        match *stage {
            Stage::Practice {
                block,
                attempt,
                index,
            } => {
                let Some(this) = self.blocks.get(block as usize) else {
                    return Vec::new();
                };
                let round = this.practice.get(attempt as usize);
                let rest = round.into_iter().flatten().skip(index as usize + 1);
                rest.chain(this.main.iter())
                    .chain(later(block))
                    .take(n)
                    .collect()
            }
            Stage::Main { block, index } => {
                let Some(this) = self.blocks.get(block as usize) else {
                    return Vec::new();
                };
                this.main
                    .iter()
                    .skip(index as usize + 1)
                    .chain(later(block))
                    .take(n)
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Replacements for a main trial of block `block` whose stimuli failed a check: the
    /// batches of its unit that this block's main trials do not use, in batch order, each
    /// laid out as a planned trial of the block's condition (its own seeded grid order)
    /// with the original's query position, so the block's balance of query positions is
    /// kept. Empty for practice and catch trials.
    pub fn spares(&self, exp: &Experiment, block: u32, trial: &PlannedTrial) -> Vec<PlannedTrial> {
        if trial.phase != Phase::Main {
            return Vec::new();
        }
        let Some(this) = self.blocks.get(block as usize) else {
            return Vec::new();
        };
        let Some(unit) = exp.units.iter().find(|u| u.id == trial.unit.unit_id) else {
            return Vec::new();
        };
        let spec = match &this.condition {
            Some(name) => BlockSpec::named(exp, name),
            None => BlockSpec::paradigm(exp),
        };
        let prefix = if this.condition.is_some() {
            format!("block/{block}/")
        } else {
            String::new()
        };
        let used = |batch: u32| {
            this.main
                .iter()
                .any(|t| t.unit.unit_id == unit.id && t.unit.batch == batch)
        };
        (0..unit.batches.len())
            .filter(|&b| !used(unit.batches[b].batch))
            .map(|b| {
                let purpose = format!("{prefix}spare/{}/{}", unit.id, unit.batches[b].batch);
                let mut rng = Rng::derive(self.seed, &purpose);
                let mut t =
                    build_block(exp, &spec, vec![(Phase::Main, unit, b)], &mut rng).remove(0);
                t.switched_queries = trial.switched_queries;
                t
            })
            .collect()
    }
}

/// Draws `n` distinct (unit, batch index) pairs by the rule.
fn draw<'a>(units: &[&'a Unit], n: usize, rule: Draw, rng: &mut Rng) -> Vec<(&'a Unit, usize)> {
    let mut out = Vec::with_capacity(n);
    match rule {
        Draw::First => {
            out.extend(
                units
                    .iter()
                    .flat_map(|&u| (0..u.batches.len()).map(move |b| (u, b)))
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
                        out.push((units[u], b));
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
fn build_block(
    exp: &Experiment,
    spec: &BlockSpec,
    tagged: Vec<Drawn>,
    rng: &mut Rng,
) -> Vec<PlannedTrial> {
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
                min_references: grid_order(files.min_references, spec.condition.shown(false), rng),
                max_references: grid_order(files.max_references, spec.condition.shown(true), rng),
                min_query: files.min_query,
                max_query: files.max_query,
                switched_queries,
            }
        })
        .collect()
}

/// The `shown` most extreme references of a side (`*_8`, `*_7`, …): the most extreme
/// first, the others shuffled. None (and no draw) for a side that shows none.
fn grid_order(files: Vec<String>, shown: usize, rng: &mut Rng) -> Vec<String> {
    let shown = shown.min(files.len()).min(FIXED_REFERENCE + 1);
    if shown == 0 {
        return Vec::new();
    }
    let mut rest = files[FIXED_REFERENCE + 1 - shown..FIXED_REFERENCE].to_vec();
    rng.shuffle(&mut rest);
    rest.insert(0, files[FIXED_REFERENCE].clone());
    rest
}
