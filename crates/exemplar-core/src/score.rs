//! Answers and the session's progress: pure rules the app and tests share.

use serde::{Deserialize, Serialize};

use crate::experiment::Experiment;
use crate::plan::{Phase, Plan, PlannedTrial};
use crate::record::PracticeNext;

/// Which query was chosen, in the original data's letters (`a`, `b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// The min (weakly activating) query.
    A,
    /// The max (strongly activating) query: correct.
    B,
}

/// A scored answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// 0..2L-1: upper row left to right, then lower row.
    pub button_pressed: u32,
    /// Whether the upper query was chosen.
    pub upper: bool,
    /// 1..=L.
    pub confidence: u8,
    /// Which query.
    pub choice: Choice,
    /// `choice == B`.
    pub correct: bool,
}

/// Scores a button (upper row `0..levels`, lower row `levels..2*levels`) of a trial.
/// Returns `None` for a button that does not exist.
pub fn answer(button_pressed: u32, levels: u8, switched_queries: bool) -> Option<Answer> {
    let levels = levels as u32;
    if levels == 0 || button_pressed >= 2 * levels {
        return None;
    }
    let upper = button_pressed < levels;
    // Unswitched: the min query ("a") is on top.
    let choice = if upper != switched_queries {
        Choice::A
    } else {
        Choice::B
    };
    Some(Answer {
        button_pressed,
        upper,
        confidence: (button_pressed % levels + 1) as u8,
        choice,
        correct: choice == Choice::B,
    })
}

/// The page a session is on. Serialized into the browser's storage, so a reload
/// continues where the participant was. Read in one pass (`Deserialize` below, see
/// [`crate::tagged`]); fields a page does not have are ignored, as serde's derive does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// The welcome page.
    Welcome,
    /// The consent page.
    Consent,
    /// Instruction page `page`.
    Instructions {
        /// 0-based page.
        page: u32,
    },
    /// The request to go fullscreen.
    Fullscreen,
    /// Page `page` of the instructions of block `block`'s condition.
    BlockIntro {
        /// 0-based block.
        block: u32,
        /// 0-based page.
        page: u32,
    },
    /// The practice introduction (before round `attempt`).
    PracticeIntro {
        /// 0-based block (absent in storage when 0).
        #[serde(skip_serializing_if = "is_zero")]
        block: u32,
        /// 0-based round.
        attempt: u32,
    },
    /// A practice trial.
    Practice {
        /// 0-based block.
        #[serde(skip_serializing_if = "is_zero")]
        block: u32,
        /// 0-based round.
        attempt: u32,
        /// Index in the round.
        index: u32,
    },
    /// The page between a block's practice and its main trials.
    MainIntro {
        /// 0-based block.
        #[serde(skip_serializing_if = "is_zero")]
        block: u32,
    },
    /// A main-block trial.
    Main {
        /// 0-based block.
        #[serde(skip_serializing_if = "is_zero")]
        block: u32,
        /// Index in the block's main trials.
        index: u32,
    },
    /// The optional feedback text.
    Feedback,
    /// The end page.
    End,
}

impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Page {
            Welcome,
            Consent,
            Instructions,
            Fullscreen,
            BlockIntro,
            PracticeIntro,
            Practice,
            MainIntro,
            Main,
            Feedback,
            End,
        }
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Stage;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with a \"stage\"")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Stage, A::Error> {
                use crate::tagged::{once, required};
                let (mut stage, mut page, mut attempt, mut index, mut block) =
                    (None::<Page>, None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "stage" => once(&mut map, &mut stage, "stage")?,
                        "page" => once(&mut map, &mut page, "page")?,
                        "attempt" => once(&mut map, &mut attempt, "attempt")?,
                        "index" => once(&mut map, &mut index, "index")?,
                        "block" => once(&mut map, &mut block, "block")?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                let block = block.unwrap_or(0);
                Ok(match required(stage, "stage")? {
                    Page::Welcome => Stage::Welcome,
                    Page::Consent => Stage::Consent,
                    Page::Instructions => Stage::Instructions {
                        page: required(page, "page")?,
                    },
                    Page::Fullscreen => Stage::Fullscreen,
                    Page::BlockIntro => Stage::BlockIntro {
                        block,
                        page: required(page, "page")?,
                    },
                    Page::PracticeIntro => Stage::PracticeIntro {
                        block,
                        attempt: required(attempt, "attempt")?,
                    },
                    Page::Practice => Stage::Practice {
                        block,
                        attempt: required(attempt, "attempt")?,
                        index: required(index, "index")?,
                    },
                    Page::MainIntro => Stage::MainIntro { block },
                    Page::Main => Stage::Main {
                        block,
                        index: required(index, "index")?,
                    },
                    Page::Feedback => Stage::Feedback,
                    Page::End => Stage::End,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Stage {
    /// `(attempt, index)` of a trial stage: the practice round and the index in it, or 0
    /// and the index in the block's main trials. `None` on the other pages.
    pub fn trial_position(&self) -> Option<(u32, u32)> {
        match *self {
            Stage::Practice { attempt, index, .. } => Some((attempt, index)),
            Stage::Main { index, .. } => Some((0, index)),
            _ => None,
        }
    }

    /// The block a page belongs to (`None` before the first block and after the last).
    pub fn block(&self) -> Option<u32> {
        match *self {
            Stage::BlockIntro { block, .. }
            | Stage::PracticeIntro { block, .. }
            | Stage::Practice { block, .. }
            | Stage::MainIntro { block }
            | Stage::Main { block, .. } => Some(block),
            _ => None,
        }
    }
}

/// A session's progress: where it is and what has been counted so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The current page.
    pub stage: Stage,
    /// Whether the current trial has been answered (or skipped): a reload then moves on
    /// instead of showing it again.
    pub done: bool,
    /// Correct answers in the current practice round.
    pub practice_correct: u32,
    /// Answers in the current practice round.
    pub practice_answered: u32,
    /// Correct answers in the main block, catch trials included (the on-screen counter).
    pub main_correct: u32,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            stage: Stage::Welcome,
            done: false,
            practice_correct: 0,
            practice_answered: 0,
            main_correct: 0,
        }
    }
}

/// What ending a practice round leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundOutcome {
    /// Every trial correct: on to the main block.
    Passed,
    /// A mistake, attempts left: the round is repeated.
    Repeat,
    /// A mistake on the last allowed round: on to the main block anyway.
    OutOfAttempts,
}

impl RoundOutcome {
    /// Where the session goes after the round, as the `practice_round` record's `next`
    /// says it.
    pub fn next(self) -> PracticeNext {
        match self {
            RoundOutcome::Repeat => PracticeNext::Repeat,
            RoundOutcome::Passed | RoundOutcome::OutOfAttempts => PracticeNext::Main,
        }
    }
}

/// A practice round that has just ended, as its `practice_round` record reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundEnd {
    /// The block whose practice it was.
    pub block: u32,
    /// The 0-based round.
    pub attempt: u32,
    /// Correct answers in the round.
    pub correct: u32,
    /// Answers in the round (skipped trials are not answers).
    pub answered: u32,
    /// What follows.
    pub outcome: RoundOutcome,
}

impl RoundEnd {
    /// Practice rounds used so far, this one included.
    pub fn rounds_used(&self) -> u32 {
        self.attempt + 1
    }
}

/// What leaving a trial ([`Progress::finish_trial`]) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// On to the next page.
    Next,
    /// The last trial of a practice round: the round ended (and the progress went on to
    /// the repeated round or the main block).
    RoundEnded(RoundEnd),
}

/// What an answer counted for besides the progress's own counts (see [`Progress::answer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The answer is in the main block (a main or catch trial): its time counts for the
    /// main phase.
    pub main_block: bool,
    /// A correct answer to a catch trial.
    pub catch_correct: bool,
}

impl Progress {
    /// The trial of the current stage, if it is a trial.
    pub fn trial<'p>(&self, plan: &'p Plan) -> Option<&'p PlannedTrial> {
        plan.trial(&self.stage)
    }

    /// Whether every index in the progress points inside this experiment and plan (saved
    /// progress read back from storage is checked with this before it is used).
    pub fn fits(&self, exp: &Experiment, plan: &Plan) -> bool {
        let block = |b: u32| plan.blocks.get(b as usize);
        match self.stage {
            Stage::Instructions { page } => (page as usize) < exp.pages.instructions.len(),
            Stage::BlockIntro { block: b, page } => {
                block(b).is_some_and(|bp| (page as usize) < exp.condition_of(bp).instructions.len())
            }
            Stage::PracticeIntro { block: b, attempt } => {
                block(b).is_some_and(|bp| (attempt as usize) < bp.practice.len().max(1))
            }
            Stage::Practice { .. } | Stage::Main { .. } => self.trial(plan).is_some(),
            Stage::MainIntro { block: b } => (b as usize) < plan.blocks.len().max(1),
            Stage::Welcome | Stage::Consent | Stage::Fullscreen | Stage::Feedback | Stage::End => {
                true
            }
        }
    }

    /// Records an answer to the current trial, whose phase is `phase` (the main block's
    /// counter includes catch trials). Does nothing and returns `None` if it was already
    /// answered; otherwise says what else the answer counts for.
    pub fn answer(&mut self, phase: Phase, correct: bool) -> Option<Counted> {
        if self.done {
            return None;
        }
        self.done = true;
        match self.stage {
            Stage::Practice { .. } => {
                self.practice_answered += 1;
                self.practice_correct += correct as u32;
            }
            Stage::Main { .. } => self.main_correct += correct as u32,
            _ => {}
        }
        Some(Counted {
            main_block: phase.in_main_block(),
            catch_correct: phase == Phase::Catch && correct,
        })
    }

    /// Correct answers in the main block without the catch trials, given how many catch
    /// trials were answered correctly ([`Counted::catch_correct`]).
    pub fn main_correct_without_catch(&self, catch_correct: u32) -> u32 {
        self.main_correct.saturating_sub(catch_correct)
    }

    /// Marks the current trial as skipped (its images could not be loaded).
    pub fn skip(&mut self) {
        self.done = true;
    }

    /// Leaves the current trial once it is answered or skipped (Continue, a skipped
    /// trial, or a reload after the answer): goes to the next page and says whether that
    /// ended a practice round. `None`, and nothing changes, if the trial is not done (a
    /// second Continue must not skip the next trial).
    pub fn finish_trial(&mut self, exp: &Experiment, plan: &Plan) -> Option<Finished> {
        if !self.done {
            return None;
        }
        let ended = match (self.stage.clone(), self.round_outcome(plan)) {
            (Stage::Practice { block, attempt, .. }, Some(outcome)) => {
                Finished::RoundEnded(RoundEnd {
                    block,
                    attempt,
                    correct: self.practice_correct,
                    answered: self.practice_answered,
                    outcome,
                })
            }
            _ => Finished::Next,
        };
        self.advance(exp, plan);
        Some(ended)
    }

    /// Goes straight to `stage` (the preview's navigation), as a fresh page: not done,
    /// and a fresh practice round's counts.
    pub fn jump(&mut self, stage: Stage) {
        self.stage = stage;
        self.done = false;
        self.practice_correct = 0;
        self.practice_answered = 0;
    }

    /// The outcome of the current practice round, if it is complete.
    pub fn round_outcome(&self, plan: &Plan) -> Option<RoundOutcome> {
        let Stage::Practice {
            block,
            attempt,
            index,
        } = self.stage
        else {
            return None;
        };
        let rounds = plan
            .blocks
            .get(block as usize)
            .map_or(&[][..], |b| &b.practice[..]);
        let round_len = rounds.get(attempt as usize).map_or(0, Vec::len) as u32;
        if !self.done || index + 1 < round_len {
            return None;
        }
        // A block has one round per allowed attempt.
        Some(if self.practice_correct == self.practice_answered {
            RoundOutcome::Passed
        } else if (attempt as usize) + 1 < rounds.len() {
            RoundOutcome::Repeat
        } else {
            RoundOutcome::OutOfAttempts
        })
    }

    /// Goes to the next page (Continue, Next, Accept, or after a finished trial).
    pub fn advance(&mut self, exp: &Experiment, plan: &Plan) {
        let block = |b: u32| plan.blocks.get(b as usize);
        let practice_len = |b: u32, attempt: u32| {
            block(b)
                .and_then(|bp| bp.practice.get(attempt as usize))
                .map_or(0, Vec::len) as u32
        };
        let main_len = |b: u32| block(b).map_or(0, |bp| bp.main.len()) as u32;
        self.stage = match self.stage {
            Stage::Welcome => Stage::Consent,
            Stage::Consent if !exp.pages.instructions.is_empty() => Stage::Instructions { page: 0 },
            Stage::Consent => self.after_instructions(exp, plan),
            Stage::Instructions { page } if page + 1 < exp.pages.instructions.len() as u32 => {
                Stage::Instructions { page: page + 1 }
            }
            Stage::Instructions { .. } => self.after_instructions(exp, plan),
            Stage::Fullscreen => block_start(exp, plan, 0),
            Stage::BlockIntro { block: b, page } => {
                let pages = block(b).map_or(0, |bp| exp.condition_of(bp).instructions.len());
                if (page as usize) + 1 < pages {
                    Stage::BlockIntro {
                        block: b,
                        page: page + 1,
                    }
                } else {
                    practice_or_main(plan, b)
                }
            }
            Stage::PracticeIntro { block: b, attempt } => {
                self.practice_correct = 0;
                self.practice_answered = 0;
                if practice_len(b, attempt) == 0 {
                    Stage::MainIntro { block: b }
                } else {
                    Stage::Practice {
                        block: b,
                        attempt,
                        index: 0,
                    }
                }
            }
            Stage::Practice {
                block: b,
                attempt,
                index,
            } => {
                if index + 1 < practice_len(b, attempt) {
                    Stage::Practice {
                        block: b,
                        attempt,
                        index: index + 1,
                    }
                } else {
                    match self.round_outcome(plan) {
                        Some(RoundOutcome::Repeat) => Stage::PracticeIntro {
                            block: b,
                            attempt: attempt + 1,
                        },
                        _ => Stage::MainIntro { block: b },
                    }
                }
            }
            Stage::MainIntro { block: b } if main_len(b) == 0 => block_start(exp, plan, b + 1),
            Stage::MainIntro { block: b } => Stage::Main { block: b, index: 0 },
            Stage::Main { block: b, index } if index + 1 < main_len(b) => Stage::Main {
                block: b,
                index: index + 1,
            },
            Stage::Main { block: b, .. } => block_start(exp, plan, b + 1),
            Stage::Feedback | Stage::End => Stage::End,
        };
        self.done = false;
    }

    /// Goes back one instruction page (only instruction pages have Back).
    pub fn back(&mut self) {
        if let Stage::Instructions { page } = self.stage {
            if page > 0 {
                self.stage = Stage::Instructions { page: page - 1 };
            }
        }
    }

    fn after_instructions(&self, exp: &Experiment, plan: &Plan) -> Stage {
        if exp.display.fullscreen {
            Stage::Fullscreen
        } else {
            block_start(exp, plan, 0)
        }
    }
}

/// The first page of block `b`: its condition's instructions, its practice or its main
/// trials; the feedback page after the last block.
fn block_start(exp: &Experiment, plan: &Plan, b: u32) -> Stage {
    let Some(block) = plan.blocks.get(b as usize) else {
        return Stage::Feedback;
    };
    if exp.condition_of(block).instructions.is_empty() {
        practice_or_main(plan, b)
    } else {
        Stage::BlockIntro { block: b, page: 0 }
    }
}

/// Block `b`'s practice introduction if it has practice trials, else its main intro.
fn practice_or_main(plan: &Plan, b: u32) -> Stage {
    let practice = plan
        .blocks
        .get(b as usize)
        .and_then(|bp| bp.practice.first());
    if practice.is_some_and(|r| !r.is_empty()) {
        Stage::PracticeIntro {
            block: b,
            attempt: 0,
        }
    } else {
        Stage::MainIntro { block: b }
    }
}
