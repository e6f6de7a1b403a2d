//! The records a session produces: one per trial, plus session events.
//!
//! These types are the one definition of the data. The format is versioned
//! ([`RECORD_FORMAT`]); generated from these types are its JSON Schema
//! (`schema/record.schema.json`), the field tables of `docs/data.md` (between their
//! `generated` markers), the columns of `exemplar export`'s CSV and which CSV cells the
//! analysis reads as numbers or booleans (all through [`crate::schema::fields`]). Field
//! names follow the original study's data where it had one (`rt`, `button_pressed`,
//! `switched_queries`, `confidence`, `choice`, `correct`, `catch_trial`, `is_demo`,
//! `trial_index`, `time_elapsed`, `model`, `layer`, `channel`, `batch`, `mode`): these are
//! the CSV's first columns.
//!
//! A field that is a CSV column says where with `#[schemars(extend("x-csv-column" = N))]`
//! (1-based; the CSV holds one row per trial, so only fields of every record and of
//! [`TrialRecord`] can be columns). Adding a field therefore touches this file, the
//! regenerated `schema/record.schema.json` and the regenerated tables of `docs/data.md`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{Phase, Plan, PlannedTrial};
use crate::score::Choice;
use crate::score::Stage;

/// The record format this crate writes.
pub const RECORD_FORMAT: &str = "exemplar.record/1";

/// One record: what every record carries, and its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// `<session_id>-<seq>`, unique: endpoints store a record once per id.
    #[schemars(extend("x-csv-column" = 20))]
    pub record_id: String,
    /// The record format: `exemplar.record/1`.
    pub format: String,
    /// A random id of this run of the experiment (kept across reloads).
    #[schemars(extend("x-csv-column" = 16))]
    pub session_id: String,
    /// The participant id from the URL (`PROLIFIC_PID`, `workerId` or `pid`), or a
    /// random one stored in the browser.
    #[schemars(extend("x-csv-column" = 17))]
    pub participant_id: String,
    /// Where the participant id came from.
    pub participant_id_source: ParticipantIdSource,
    /// The experiment's `id` (from `experiment.json`).
    #[schemars(extend("x-csv-column" = 18))]
    pub experiment_id: String,
    /// The experiment's `version` (from `experiment.json`).
    #[schemars(extend("x-csv-column" = 19))]
    pub experiment_version: String,
    /// 0, 1, 2, … within the session, without gaps: a missing number is a lost record.
    #[schemars(extend("x-csv-column" = 21))]
    pub seq: u64,
    /// Milliseconds since the session's first load (wall clock, across reloads).
    #[schemars(extend("x-csv-column" = 10))]
    pub time_elapsed: f64,
    /// Milliseconds since the Unix epoch when the record was made.
    #[schemars(extend("x-csv-column" = 22))]
    pub timestamp: f64,
    /// What happened.
    #[serde(flatten)]
    pub body: Body,
}

/// Where a record's `participant_id` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ParticipantIdSource {
    /// Prolific's URL parameter.
    #[serde(rename = "PROLIFIC_PID")]
    ProlificPid,
    /// MTurk's URL parameter.
    #[serde(rename = "workerId")]
    WorkerId,
    /// The generic URL parameter.
    #[serde(rename = "pid")]
    Pid,
    /// No id in the URL: a random id kept in the browser.
    #[serde(rename = "random")]
    Random,
    /// The researcher's preview (whose records are never sent).
    #[serde(rename = "preview")]
    Preview,
}

/// What a record is about: its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// The session began (first load).
    SessionStarted(SessionStarted),
    /// The page was loaded again in the middle of the session.
    SessionResumed(Environment),
    /// The participant accepted the consent text.
    ConsentGiven,
    /// The participant left the instructions for the trials.
    InstructionsDone {
        /// Milliseconds from the first instruction page to leaving the last one.
        instruction_time: f64,
        /// Instruction pages visited, in order, including going back.
        pages_visited: Vec<u32>,
    },
    /// Fullscreen was entered or left.
    Fullscreen {
        /// `true` when entered, `false` when left.
        active: bool,
    },
    /// One answered trial.
    Trial(Box<TrialRecord>),
    /// A trial's images failed to load after every attempt: the trial was not shown.
    TrialSkipped {
        /// Practice, main or catch.
        phase: Phase,
        /// Index within its block.
        trial_index: u32,
        /// The practice round (0 for the main block).
        attempt: u32,
        /// The unit's id.
        unit_id: String,
        /// The batch number.
        batch: u32,
        /// The images that failed: path and reason.
        failed_images: Vec<String>,
    },
    /// A practice round ended.
    PracticeRound {
        /// With a `design`: the block whose practice it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block: Option<u32>,
        /// 0-based round number (of the block's practice).
        attempt: u32,
        /// Trials answered correctly.
        correct: u32,
        /// Trials answered.
        answered: u32,
        /// What follows.
        next: PracticeNext,
    },
    /// The feedback page was submitted.
    Feedback {
        /// What the participant wrote (may be empty).
        text: String,
    },
    /// The saved progress of this session no longer fits the experiment (it was changed
    /// under the running session, or the saved state is damaged). The session stops here:
    /// nothing more is shown, the records not yet sent are still sent.
    PlanChanged {
        /// The plan hash saved with the progress (`null` when the progress was saved by a
        /// version of the app that did not store one).
        saved_plan_hash: Option<String>,
        /// The hash of the plan the current experiment gives this participant.
        plan_hash: String,
        /// Why.
        reason: PlanChangeReason,
    },
    /// At the start of an MTurk session whose `turkSubmitTo` is not
    /// `https://www.mturk.com` or `https://workersandbox.mturk.com`: the platform's return
    /// address in the URL was refused, so the participant is not sent back automatically;
    /// the end page offers the data file instead of submitting.
    HandoverRefused {
        /// The URL parameter.
        parameter: HandoverParameter,
        /// Its value (at most 300 characters).
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The participant reached the end page.
    SessionCompleted {
        /// Correct main (non-catch) trials.
        main_correct: u32,
        /// Correct catch trials.
        catch_correct: u32,
        /// Answered main-block trials (main and catch).
        answered: u32,
        /// Practice rounds taken.
        practice_rounds: u32,
        /// Milliseconds from the first to the last main-block trial's response.
        main_phase_time: f64,
    },
}

/// What follows a practice round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PracticeNext {
    /// The main block: the round was passed, or it was the last allowed.
    Main,
    /// The round again.
    Repeat,
}

/// Why saved progress no longer fits the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanChangeReason {
    /// The plan hash saved with the progress is not the current plan's.
    PlanHashDiffers,
    /// The plan is the same, but the saved progress points outside it.
    ProgressOutOfRange,
}

/// The URL parameter holding a platform's return address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HandoverParameter {
    /// MTurk's `turkSubmitTo`.
    #[serde(rename = "turkSubmitTo")]
    TurkSubmitTo,
}

/// Where the session runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    /// `navigator.userAgent`.
    pub user_agent: String,
    /// Window inner width in CSS px.
    pub window_width: f64,
    /// Window inner height in CSS px.
    pub window_height: f64,
    /// Screen width in CSS px.
    pub screen_width: f64,
    /// Screen height in CSS px.
    pub screen_height: f64,
    /// `window.devicePixelRatio`.
    pub device_pixel_ratio: f64,
}

/// The first record of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionStarted {
    /// The browser and window.
    #[serde(flatten)]
    pub environment: Environment,
    /// The plan's seed (as a decimal string: JSON numbers lose precision above 2^53).
    pub seed: String,
    /// The page URL's query string.
    pub query: String,
    /// The recruitment platform's parameters found in the URL (`PROLIFIC_PID`,
    /// `STUDY_ID`, `SESSION_ID`, `workerId`, `assignmentId`, `hitId`, `turkSubmitTo`).
    #[serde(default)]
    pub platform: std::collections::BTreeMap<String, String>,
}

/// One answered trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrialRecord {
    /// Practice, main or catch.
    #[schemars(extend("x-csv-column" = 23))]
    pub phase: Phase,
    /// Index within its block (the practice round or the main block), from 0.
    #[schemars(extend("x-csv-column" = 9))]
    pub trial_index: u32,
    /// The practice round, from 0 (0 in the main block).
    #[schemars(extend("x-csv-column" = 24))]
    pub attempt: u32,
    /// `phase == practice` (the original data's name).
    #[schemars(extend("x-csv-column" = 8))]
    pub is_demo: bool,
    /// `phase == catch` (the original data's name).
    #[schemars(extend("x-csv-column" = 7))]
    pub catch_trial: bool,
    /// The unit's id.
    #[schemars(extend("x-csv-column" = 25))]
    pub unit_id: String,
    /// The unit's model.
    #[schemars(extend("x-csv-column" = 11))]
    pub model: String,
    /// The unit's layer.
    #[schemars(extend("x-csv-column" = 12))]
    pub layer: String,
    /// The unit's channel.
    #[schemars(extend("x-csv-column" = 13))]
    pub channel: u32,
    /// The batch shown.
    #[schemars(extend("x-csv-column" = 14))]
    pub batch: u32,
    /// The kind of references (as in the original data).
    #[schemars(extend("x-csv-column" = 15))]
    pub mode: TrialMode,
    /// Milliseconds from the paint onset of the trial's decoded images (`onset`) to the
    /// response event.
    #[schemars(extend("x-csv-column" = 1))]
    pub rt: f64,
    /// Milliseconds from the trial's insertion into the page to the response: the
    /// original client's RT, kept for comparison (≥ `rt`).
    #[schemars(extend("x-csv-column" = 26))]
    pub rt_dom: f64,
    /// The paint onset on the page's `performance.now()` clock, as `onset_source` says:
    /// the time the browser reports it painted both query images (Element Timing's
    /// `renderTime`), or, where the browser has no such report, the timestamp of the first
    /// animation frame after the decoded images were inserted (or the insertion time if
    /// that frame began before it).
    #[schemars(extend("x-csv-column" = 27))]
    pub onset: f64,
    /// Where `onset` comes from: `element_timing` (the browser's paint report) or
    /// `animation_frame` (the frame that paints the images began; an estimate that comes
    /// before the paint, by one frame or more). Records without it (from clients before
    /// this field) took `animation_frame`; being optional, it is not a CSV column.
    #[serde(default)]
    pub onset_source: OnsetSource,
    /// The button: upper row `0..L-1`, lower row `L..2L-1`, left to right, with L
    /// confidence levels (with 3: upper 0, 1, 2 for confidence 1, 2, 3; lower 3, 4, 5).
    #[schemars(extend("x-csv-column" = 2))]
    pub button_pressed: u32,
    /// `false`: the min query ("a") was on top; `true`: the max query was on top (the
    /// original plugin's convention).
    #[schemars(extend("x-csv-column" = 3))]
    pub switched_queries: bool,
    /// 1 (low) to L (high).
    #[schemars(extend("x-csv-column" = 4))]
    pub confidence: u8,
    /// The query chosen.
    #[schemars(extend("x-csv-column" = 5))]
    pub choice: Choice,
    /// `choice == "b"`: the max query was chosen.
    #[schemars(extend("x-csv-column" = 6))]
    pub correct: bool,
    /// The stimulus that was chosen (its path relative to the experiment folder).
    #[schemars(extend("x-csv-column" = 29))]
    pub chosen_stimulus: String,
    /// The min query's stimulus path.
    #[schemars(extend("x-csv-column" = 30))]
    pub min_query: String,
    /// The max query's stimulus path.
    #[schemars(extend("x-csv-column" = 31))]
    pub max_query: String,
    /// The min references in display order (row by row); the first is `min_8`.
    pub min_references: Vec<String>,
    /// The max references in display order (row by row); the first is `max_8`.
    pub max_references: Vec<String>,
    /// How the answer was given.
    #[schemars(extend("x-csv-column" = 28))]
    pub input: Input,
    /// Window inner width in CSS px at the response.
    #[schemars(extend("x-csv-column" = 32))]
    pub window_width: f64,
    /// Window inner height in CSS px at the response.
    #[schemars(extend("x-csv-column" = 33))]
    pub window_height: f64,
    /// `devicePixelRatio` at the response.
    #[schemars(extend("x-csv-column" = 34))]
    pub device_pixel_ratio: f64,
    /// Times the window lost focus during the trial.
    #[schemars(extend("x-csv-column" = 35))]
    pub focus_losses: u32,
    /// Times the page was hidden during the trial.
    #[schemars(extend("x-csv-column" = 36))]
    pub visibility_losses: u32,
    /// Whether the page was fullscreen at the response.
    #[schemars(extend("x-csv-column" = 37))]
    pub fullscreen: bool,
    /// Only with `checks.participant` `record`: the live check of this trial's two
    /// queries (absent when checks are off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::checks::LiveCheck>,
    /// Only with `checks.participant` `enforce`, on a main trial shown instead of a planned
    /// one whose check failed: the planned trial. The trial's other fields describe the
    /// spare batch that was shown (same unit, same query position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Replaced>,
    /// With a `design`: the participant's group (`design.groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-csv-column" = 38))]
    pub group: Option<String>,
    /// With a `design`: the block's condition (a key of `conditions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-csv-column" = 39))]
    pub condition: Option<String>,
    /// With a `design`: the block, from 0, in the order this participant ran them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-csv-column" = 40))]
    pub block: Option<u32>,
}

/// A trial's kind of references, as the original data names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrialMode {
    /// Dataset exemplars.
    Natural,
    /// Feature visualisations.
    Optimized,
    /// A catch trial.
    CatchTrial,
}

impl From<crate::experiment::Mode> for TrialMode {
    fn from(mode: crate::experiment::Mode) -> TrialMode {
        match mode {
            crate::experiment::Mode::Natural => TrialMode::Natural,
            crate::experiment::Mode::Optimized => TrialMode::Optimized,
        }
    }
}

/// How a trial was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A click (or tap) on a button.
    Click,
    /// A key.
    Key,
    /// An untrusted click: a `?simulate=` participant's.
    Simulated,
}

/// Where a trial's `onset` comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnsetSource {
    /// Element Timing's `renderTime` of the two query images (the later one): the browser's
    /// own report of when it painted them (Chromium-based browsers).
    ElementTiming,
    /// The timestamp of the animation frame that paints the images (browsers without
    /// Element Timing: Firefox, Safari).
    #[default]
    AnimationFrame,
}

/// The planned trial a spare replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Replaced {
    /// Its batch.
    pub batch: u32,
    /// Its min query file.
    pub min_query: String,
    /// Its max query file.
    pub max_query: String,
    /// Its failed check.
    pub check: crate::checks::LiveCheck,
}

impl TrialRecord {
    /// Fills the fields that follow from the plan, the trial's stage, the trial shown (the
    /// stage's, or a spare in its place), the answer and how it was given; the caller sets
    /// the measured ones.
    pub fn from_plan(
        plan: &Plan,
        stage: &Stage,
        trial: &PlannedTrial,
        answer: &crate::score::Answer,
        input: Input,
    ) -> TrialRecord {
        let (attempt, trial_index) = stage.trial_position().unwrap_or_default();
        let block = plan.block(stage);
        let mode = match trial.phase {
            Phase::Catch => TrialMode::CatchTrial,
            _ => trial.unit.mode.into(),
        };
        TrialRecord {
            phase: trial.phase,
            trial_index,
            attempt,
            is_demo: trial.phase == Phase::Practice,
            catch_trial: trial.phase == Phase::Catch,
            unit_id: trial.unit.unit_id.clone(),
            model: trial.unit.model.clone(),
            layer: trial.unit.layer.clone(),
            channel: trial.unit.channel,
            batch: trial.unit.batch,
            mode,
            rt: 0.0,
            rt_dom: 0.0,
            onset: 0.0,
            onset_source: OnsetSource::AnimationFrame,
            button_pressed: answer.button_pressed,
            switched_queries: trial.switched_queries,
            confidence: answer.confidence,
            choice: answer.choice,
            correct: answer.correct,
            chosen_stimulus: match answer.choice {
                Choice::A => trial.min_query.clone(),
                Choice::B => trial.max_query.clone(),
            },
            min_query: trial.min_query.clone(),
            max_query: trial.max_query.clone(),
            min_references: trial.min_references.clone(),
            max_references: trial.max_references.clone(),
            input,
            window_width: 0.0,
            window_height: 0.0,
            device_pixel_ratio: 0.0,
            focus_losses: 0,
            visibility_losses: 0,
            fullscreen: false,
            check: None,
            replaced: None,
            group: plan.group.clone(),
            condition: block.and_then(|b| b.condition.clone()),
            block: stage.block().filter(|_| plan.group.is_some()),
        }
    }
}

/// The body of a POST to an `http` endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// The records, in `seq` order.
    pub records: Vec<Record>,
}
