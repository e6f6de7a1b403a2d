//! The family of conditions an experiment may run (`conditions`) and how a session and
//! its participants are split among them (`design`): the types of `experiment.json`; the
//! plan (`plan.rs`) draws and orders them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::experiment::{Practice, REFERENCES_PER_SIDE};

/// One condition of the paradigm family: which references a trial shows and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `natural` (dataset exemplars), `optimized` (feature visualisations) or `none` (only
    /// the two queries and the prompt: the baseline). Unless `units` is set, the block
    /// draws from the units of this `mode` (`none`: the natural units, for their queries).
    #[serde(default)]
    pub references: References,
    /// References per side: 1, 4 or 9 (a square grid; the most extreme reference first,
    /// then the next ranks: 4 shows `*_8`, `*_7`, `*_6`, `*_5`). Ignored for `none`.
    #[serde(default = "default_per_side")]
    pub per_side: u32,
    /// `min_max` (both sides) or `max_only` (only the maximally activating references;
    /// the left side stays empty).
    #[serde(default)]
    pub sides: Sides,
    /// The units (ids from `units`) this condition draws from, instead of every unit of
    /// its `references` kind: a unit set of a between-participants design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<String>>,
    /// Pages (Markdown) shown before each block of this condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instructions: Vec<String>,
    /// This condition's practice; the experiment's `practice` if not set (an empty
    /// `trials` list: no practice before its blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practice: Option<Practice>,
    /// Main trials per block of this condition; `session.main_trials` if not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_trials: Option<u32>,
    /// Catch trials per block; `session.catch_trials` if not set, and 0 for `none` (a catch
    /// trial needs references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_trials: Option<u32>,
}

fn default_per_side() -> u32 {
    REFERENCES_PER_SIDE as u32
}

impl Default for Condition {
    /// The paradigm's condition ([`Condition::PARADIGM`]).
    fn default() -> Self {
        Condition::PARADIGM
    }
}

impl Condition {
    /// The paradigm's own condition: 9 natural references on each side, the experiment's
    /// practice and counts. A session without a design is one block of it.
    pub const PARADIGM: Condition = Condition {
        references: References::Natural,
        per_side: REFERENCES_PER_SIDE as u32,
        sides: Sides::MinMax,
        units: None,
        instructions: Vec::new(),
        practice: None,
        main_trials: None,
        catch_trials: None,
    };

    /// How many references each side shows: 0 for `none` and for the min side of
    /// `max_only`.
    pub fn shown(&self, max_side: bool) -> usize {
        match (self.references, self.sides) {
            (References::None, _) => 0,
            (_, Sides::MaxOnly) if !max_side => 0,
            _ => self.per_side as usize,
        }
    }
}

/// What a condition shows as references.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum References {
    /// Dataset exemplars (units of mode `natural`).
    #[default]
    Natural,
    /// Feature visualisations (units of mode `optimized`).
    Optimized,
    /// No references: the participant sees only the queries.
    None,
}

/// Which sides of a trial show references.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sides {
    /// Minimally activating references on the left, maximally activating on the right.
    #[default]
    MinMax,
    /// Only the maximally activating references (right); the left stays empty.
    MaxOnly,
}

/// The session's blocks, and the groups participants are split into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Design {
    /// One group: every participant runs its blocks (a within-participants design).
    /// Several: each participant gets one, balanced by participant id (a numeric id `k`
    /// gets group `k mod n`; another id its hash), or the one a link names with
    /// `?condition=NAME` (between participants). Every trial record names its group,
    /// condition and block.
    pub groups: Vec<Group>,
}

/// One group of participants: the blocks each of them runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name: in records and in `?condition=` links.
    pub name: String,
    /// The blocks, in their listed order: each names a condition (one may appear more than
    /// once, as a baseline before and after the others).
    pub blocks: Vec<String>,
    /// `fixed` (as listed), `latin_square` (counterbalanced across participants by a
    /// balanced Latin square: each block in each position and after each other block
    /// equally often) or `random` (drawn per participant). Applies to the blocks between
    /// the first `fixed_first` and the last `fixed_last`.
    #[serde(default)]
    pub order: Order,
    /// How many of the first blocks keep their place.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fixed_first: u32,
    /// How many of the last blocks keep their place.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fixed_last: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The order of a group's blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// As listed.
    #[default]
    Fixed,
    /// Counterbalanced by a balanced Latin square over participants.
    LatinSquare,
    /// Shuffled per participant.
    Random,
}
