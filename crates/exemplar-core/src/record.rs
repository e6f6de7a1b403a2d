//! The records a session produces: one per trial, plus session events.
//!
//! The format is versioned ([`RECORD_FORMAT`]) and documented in `docs/data.md`; its
//! JSON Schema (`schema/record.schema.json`) is generated from these types. Field names
//! follow the original study's data where it had one (`rt`, `button_pressed`,
//! `switched_queries`, `confidence`, `choice`, `correct`, `catch_trial`, `is_demo`,
//! `trial_index`, `time_elapsed`, `model`, `layer`, `channel`, `batch`, `mode`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{Phase, PlannedTrial};

/// The record format this crate writes.
pub const RECORD_FORMAT: &str = "exemplar.record/1";

/// One record: what every record carries, and its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// Unique id: `<session_id>-<seq>`. Endpoints store a record once per id.
    pub record_id: String,
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// A random id of this session (one participant's run of the experiment).
    pub session_id: String,
    /// The participant id from the URL (`PROLIFIC_PID`, `workerId` or `pid`), or a
    /// random one stored in the browser.
    pub participant_id: String,
    /// Where the participant id came from: `PROLIFIC_PID`, `workerId`, `pid` or `random`.
    pub participant_id_source: String,
    /// The experiment's `id`.
    pub experiment_id: String,
    /// The experiment's `version`.
    pub experiment_version: String,
    /// 0, 1, 2, … within the session, with no gaps.
    pub seq: u64,
    /// Milliseconds since the session started (wall clock, across reloads).
    pub time_elapsed: f64,
    /// Milliseconds since the Unix epoch when the record was made.
    pub timestamp: f64,
    /// What happened.
    #[serde(flatten)]
    pub body: Body,
}

/// What a record is about.
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
    /// A trial that could not be shown because images failed to load.
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
        /// The images that failed, with the reason.
        failed_images: Vec<String>,
    },
    /// A practice round ended.
    PracticeRound {
        /// 0-based round number.
        attempt: u32,
        /// Trials answered correctly.
        correct: u32,
        /// Trials answered.
        answered: u32,
        /// What follows: `"main"` (passed, or out of attempts) or `"repeat"`.
        next: String,
    },
    /// The optional free-text feedback.
    Feedback {
        /// What the participant wrote (may be empty).
        text: String,
    },
    /// The saved progress of this session no longer fits the experiment (it was changed
    /// under the running session, or the saved state is damaged). The session stops here:
    /// nothing more is shown, the records not yet sent are still sent.
    PlanChanged {
        /// The plan hash saved with the progress (absent when the progress was saved by a
        /// version of the app that did not store one).
        saved_plan_hash: Option<String>,
        /// The hash of the plan the current experiment gives this participant.
        plan_hash: String,
        /// Why: `"plan_hash_differs"` or `"progress_out_of_range"`.
        reason: String,
    },
    /// The platform's return address in the URL was refused, so the participant is not
    /// sent back automatically; the end page offers the data file instead.
    HandoverRefused {
        /// The URL parameter, e.g. `turkSubmitTo`.
        parameter: String,
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
    pub phase: Phase,
    /// Index within its block (the practice round or the main block), from 0.
    pub trial_index: u32,
    /// The practice round (0 in the main block).
    pub attempt: u32,
    /// `phase == practice` (the original data's name).
    pub is_demo: bool,
    /// `phase == catch`.
    pub catch_trial: bool,
    /// The unit's id.
    pub unit_id: String,
    /// Model.
    pub model: String,
    /// Layer.
    pub layer: String,
    /// Channel.
    pub channel: u32,
    /// Batch.
    pub batch: u32,
    /// `natural`, `optimized` or, for catch trials, `catch_trial` (as in the original data).
    pub mode: String,
    /// Milliseconds from the frame that first painted the trial's images to the response.
    pub rt: f64,
    /// Milliseconds from the trial's insertion into the page to the response (the
    /// original client's measure, kept for comparability).
    pub rt_dom: f64,
    /// The paint onset, on the page's `performance.now()` clock.
    pub onset: f64,
    /// The button: upper row 0..L-1, lower row L..2L-1, left to right (L confidence levels).
    pub button_pressed: u32,
    /// `false`: min query on top; `true`: max query on top.
    pub switched_queries: bool,
    /// 1 (low) to L (high).
    pub confidence: u8,
    /// `"a"`: the min query was chosen; `"b"`: the max query.
    pub choice: String,
    /// Whether the max query was chosen.
    pub correct: bool,
    /// The stimulus that was chosen (its path in the experiment folder).
    pub chosen_stimulus: String,
    /// The min query's stimulus.
    pub min_query: String,
    /// The max query's stimulus.
    pub max_query: String,
    /// The min references in display order.
    pub min_references: Vec<String>,
    /// The max references in display order.
    pub max_references: Vec<String>,
    /// How the answer was given: `"click"` or `"key"`.
    pub input: String,
    /// Window inner width at the response.
    pub window_width: f64,
    /// Window inner height at the response.
    pub window_height: f64,
    /// `devicePixelRatio` at the response.
    pub device_pixel_ratio: f64,
    /// Times the window lost focus during the trial.
    pub focus_losses: u32,
    /// Times the page was hidden during the trial.
    pub visibility_losses: u32,
    /// Whether the page was fullscreen at the response.
    pub fullscreen: bool,
    /// The live stimulus check of this trial's queries (`checks.participant` `record`);
    /// absent when checks are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::checks::LiveCheck>,
    /// With `checks.participant` `enforce`: the planned batch this trial replaced because
    /// its check failed. The trial's own fields describe what was shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Replaced>,
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
    /// Fills the fields that follow from the plan; the caller sets the measured ones.
    pub fn from_plan(
        trial: &PlannedTrial,
        trial_index: u32,
        attempt: u32,
        answer: &crate::score::Answer,
    ) -> TrialRecord {
        let mode = match trial.phase {
            Phase::Catch => "catch_trial".to_string(),
            _ => serde_json::to_value(trial.unit.mode)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
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
            button_pressed: answer.button_pressed,
            switched_queries: trial.switched_queries,
            confidence: answer.confidence,
            choice: answer.choice.as_str().to_string(),
            correct: answer.correct,
            chosen_stimulus: match answer.choice {
                crate::score::Choice::A => trial.min_query.clone(),
                crate::score::Choice::B => trial.max_query.clone(),
            },
            min_query: trial.min_query.clone(),
            max_query: trial.max_query.clone(),
            min_references: trial.min_references.clone(),
            max_references: trial.max_references.clone(),
            input: String::new(),
            window_width: 0.0,
            window_height: 0.0,
            device_pixel_ratio: 0.0,
            focus_losses: 0,
            visibility_losses: 0,
            fullscreen: false,
            check: None,
            replaced: None,
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
