//! The experiment definition: `experiment.json` and the stimulus files beside it.
//!
//! Every path in the file is relative to the folder holding `experiment.json`. A unit's
//! batch is a folder in the paradigm's layout: `min_0..min_8` and `max_0..max_8` are the
//! references (`*_8` the most extreme, shown first), `min_9` and `max_9` the queries.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::design::{Condition, Design, Group, Order, References, Sides};

/// The index of the most extreme reference in a batch folder (`min_8`, `max_8`); it is
/// always shown first (top left) in its grid.
pub const FIXED_REFERENCE: usize = 8;
/// References per side in the paradigm's layout (`min_0..min_8`).
pub const REFERENCES_PER_SIDE: usize = 9;
/// The file index of the queries (`min_9`, `max_9`).
pub const QUERY_INDEX: usize = 9;

/// One forced-choice experiment: its pages, practice, units, session design and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Optional link to the JSON Schema, for editors; ignored by exemplar.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stable identifier of the experiment; part of every record and of the session seed.
    pub id: String,
    /// Version of this experiment file; part of every record. Change it whenever trials change.
    pub version: String,
    /// Title shown in the browser tab.
    pub title: String,
    /// The participants' language, a BCP 47 tag (`en`, `de`, `de-AT`, `fr-CA`): the page's
    /// `lang`, and its `dir` (right to left for Arabic, Hebrew, Persian, Urdu and the like).
    /// exemplar ships English and German defaults of every text and page; in another
    /// language set `texts` and `pages` (texts left out stay English).
    #[serde(default = "default_language")]
    pub language: String,
    /// Replacements of the page's texts (buttons, labels, messages, the trial's prompt and
    /// headings) by key; see `docs/texts.md` for each key, its placeholders and defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "texts_schema")]
    pub texts: BTreeMap<String, String>,
    /// The texts of the participant's pages (Markdown).
    #[serde(default)]
    pub pages: Pages,
    /// Practice trials, repeated until all are answered correctly.
    pub practice: Practice,
    /// The units whose batches are drawn into main trials.
    pub units: Vec<Unit>,
    /// Hand-picked, very obvious units, used to detect inattention.
    #[serde(default)]
    pub catch_units: Vec<Unit>,
    /// How many trials one session gets and how they are drawn.
    pub session: SessionDesign,
    /// Named conditions (what the references are, how many, which sides, and each
    /// condition's own instructions, practice and trial counts), used by `design`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, Condition>,
    /// Blocks of conditions within a session and groups between participants. Without
    /// it a session is one block of the paradigm's condition: every unit, 9 references
    /// per side, the experiment's practice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<Design>,
    /// Trial timing and feedback.
    #[serde(default)]
    pub timing: Timing,
    /// Number of confidence buttons per query (the paradigm uses 3).
    #[serde(default = "default_confidence_levels")]
    pub confidence_levels: u8,
    /// Minimum window size and fullscreen request.
    #[serde(default)]
    pub display: Display,
    /// Stimulus loading behaviour.
    #[serde(default)]
    pub loading: Loading,
    /// Where the records go.
    #[serde(default)]
    pub collect: Collect,
    /// Timeouts, batching and the download fallback of record delivery.
    #[serde(default)]
    pub delivery: Delivery,
    /// What the end page shows or where it sends the participant.
    #[serde(default)]
    pub completion: Completion,
    /// Models for checking stimuli with the activation engine (preview).
    #[serde(default)]
    pub checks: Checks,
    /// How `exemplar analyze --experiment` scores this experiment's sessions.
    #[serde(default)]
    pub analysis: Analysis,
}

/// How `exemplar analyze` scores the sessions of this experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// Which sessions are scored: one that fails any rule is excluded.
    pub exclusion: Exclusion,
}

/// The exclusion rules. The defaults are the original study's, made for its sessions of
/// 45 main and 5 catch trials: set thresholds that fit a shorter or longer session. A
/// threshold of `null` switches its rule off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Exclusion {
    /// Minimum share of catch trials answered correctly (0.8: 4 of 5).
    pub min_catch_accuracy: Option<f64>,
    /// Minimum main-block answers (main and catch trials) in each button row, upper
    /// (`button_pressed` < L) and lower (≥ L).
    pub min_answers_per_row: Option<usize>,
    /// Minimum main-phase time in seconds (first to last main-block response).
    pub min_main_phase_time_s: Option<f64>,
    /// Maximum main-phase time in seconds.
    pub max_main_phase_time_s: Option<f64>,
    /// Minimum time on the instruction pages in seconds.
    pub min_instruction_time_s: Option<f64>,
    /// Maximum practice rounds, counted over all blocks of a design (each block with
    /// practice takes at least one).
    pub max_practice_rounds: Option<u64>,
    /// Whether a rule that cannot be checked for lack of data (a CSV export has no
    /// session events, so no instruction time; an unfinished session may have no catch
    /// trials) fails the session. `true`: a session is kept only on evidence.
    pub missing_data_fails: bool,
}

impl Exclusion {
    /// The original study's thresholds scaled to a session of `main` main and `catch`
    /// catch trials (the original: 45 and 5): the main phase takes at least 2.7 s and at
    /// most 50 s per trial; at least one answer in ten in each button row (off below ten
    /// trials); the catch rule only with catch trials; at most `practice_rounds` rounds.
    pub fn scaled(main: u32, catch: u32, practice_rounds: u32) -> Exclusion {
        let trials = f64::from(main + catch);
        Exclusion {
            min_catch_accuracy: (catch > 0).then_some(0.8),
            min_answers_per_row: Some((main + catch) as usize / 10).filter(|n| *n > 0),
            min_main_phase_time_s: Some((2.7 * trials * 10.0).round() / 10.0),
            max_main_phase_time_s: Some(50.0 * trials),
            min_instruction_time_s: Some(15.0),
            max_practice_rounds: Some(u64::from(practice_rounds)),
            missing_data_fails: true,
        }
    }
}

impl Default for Exclusion {
    /// The original study's thresholds.
    fn default() -> Self {
        Exclusion {
            min_catch_accuracy: Some(0.8),
            min_answers_per_row: Some(5),
            min_main_phase_time_s: Some(135.0),
            max_main_phase_time_s: Some(2500.0),
            min_instruction_time_s: Some(15.0),
            max_practice_rounds: Some(3),
            missing_data_fails: true,
        }
    }
}

/// Stimulus checks with the activation engine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// The ONNX model of each model name that units give in `model`; units of models not
    /// listed here are not checked.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, CheckModel>,
    /// What each participant's browser does: `off`, `record` (compute the two queries'
    /// activations while a trial loads, with WebGPU only, and put them and the verdict in
    /// the trial's record; never delaying the trial) or `enforce` (also replace a failing
    /// main trial by a spare batch of its unit).
    #[serde(default)]
    pub participant: ParticipantChecks,
    /// An image encoder that solves each trial as the Machine Interpretability Score does
    /// (cosine similarities of its embeddings; [`crate::mis`]): the preview shows each
    /// trial's predicted accuracy, and `exemplar check --min-predicted` flags batches the
    /// machine finds too hard or too easy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<CheckEncoder>,
}

/// The encoder of [`Checks::encoder`]: one of `checks.models` (its file and
/// preprocessing) and the tensor whose channel means are an image's embedding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEncoder {
    /// A key of `checks.models`.
    pub model: String,
    /// The tensor of that model whose channel means are the embedding (for example its
    /// pooled features).
    pub output: String,
    /// α of the predicted accuracy σ(α·Δ). Without it a trial's prediction is 1 when
    /// Δ > 0, else 0; α depends on the encoder (fit it to human answers with
    /// `exemplar analyze --mis`).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// "Check all" and `exemplar check` flag a batch whose predicted accuracy is below
    /// this: too hard for the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_predicted: Option<f64>,
    /// … or above this: trivially easy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_predicted: Option<f64>,
}

/// Live checks in the participant's browser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantChecks {
    /// No checks (the default).
    #[default]
    Off,
    /// Check each trial's queries and record the outcome.
    Record,
    /// As `record`, and a main trial whose check fails before it is shown is replaced by
    /// a batch of the same unit that the session does not use (see `Plan::spares`).
    Enforce,
}

/// One model for checks: its file and how images are prepared for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckModel {
    /// The ONNX file, relative to the experiment folder. A unit's `layer` names a tensor
    /// of this graph, its `channel` a channel of that tensor.
    pub file: String,
    /// `imagenet` (resize 256, crop 224, ImageNet mean/std) or `inception` (resize 256,
    /// crop 224, pixel × 255 − 117).
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Resize the shorter side to this many pixels instead of the preset's (0: none).
    #[serde(default)]
    pub resize: Option<u32>,
    /// Centre crop to this side instead of the preset's (0: none).
    #[serde(default)]
    pub crop: Option<u32>,
    /// Per-channel mean of 0..1 pixel values instead of the preset's.
    #[serde(default)]
    pub mean: Option<[f32; 3]>,
    /// Per-channel standard deviation instead of the preset's.
    #[serde(default)]
    pub std: Option<[f32; 3]>,
}

fn default_preset() -> String {
    "imagenet".to_string()
}

fn default_confidence_levels() -> u8 {
    3
}

/// Markdown texts of the participant's pages. Raw HTML is shown as text, never run;
/// images (`![alt](path)`) are allowed, with paths relative to the experiment folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Pages {
    /// The first page.
    pub welcome: String,
    /// The consent text; the participant must accept it to go on.
    pub consent: String,
    /// Instruction pages, in order; participants may go back.
    pub instructions: Vec<String>,
    /// Shown above the practice trials.
    pub practice_intro: String,
    /// Shown when a practice round had a wrong answer, before it is repeated.
    pub practice_retry: String,
    /// Shown between practice and the main block.
    pub main_intro: String,
    /// The question above the optional free-text feedback.
    pub feedback_prompt: String,
    /// The last page (above the completion code).
    pub end: String,
}

/// The schema of `texts`: every key with what it is and its English default, so an
/// editor completes and checks them; no other key.
fn texts_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    use crate::texts::{Shipped, T};
    let properties: serde_json::Map<String, serde_json::Value> = T::ALL
        .iter()
        .map(|t| {
            let schema = serde_json::json!({
                "type": "string",
                "description": t.about(),
                "default": t.default_in(Shipped::En),
            });
            (t.key().to_string(), schema)
        })
        .collect();
    schemars::json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

fn default_language() -> String {
    "en".into()
}

impl Experiment {
    /// The page's text `t`: the experiment's own (`texts`), or the default in its language.
    pub fn text(&self, t: crate::texts::T) -> &str {
        match self.texts.get(t.key()) {
            Some(own) => own,
            None => t.default_in(crate::texts::Shipped::of(&self.language)),
        }
    }

    /// Every text the participant's pages show as Markdown: the pages but
    /// `feedback_prompt` (a form label), and the fullscreen page.
    pub fn markdown_texts(&self) -> impl Iterator<Item = &str> {
        let p = &self.pages;
        [p.welcome.as_str(), p.consent.as_str()]
            .into_iter()
            .chain(p.instructions.iter().map(String::as_str))
            .chain([
                p.practice_intro.as_str(),
                p.practice_retry.as_str(),
                p.main_intro.as_str(),
                p.end.as_str(),
                self.text(crate::texts::T::FullscreenPage),
            ])
            .chain(
                self.conditions
                    .values()
                    .flat_map(|c| c.instructions.iter().map(String::as_str)),
            )
    }

    /// Gives pages left at their English defaults the defaults of the experiment's
    /// language (German); run by every parser, so the page, `exemplar build` and the
    /// preview see the same texts.
    pub(crate) fn localise_pages(&mut self) {
        let language = crate::texts::Shipped::of(&self.language);
        if language == crate::texts::Shipped::En {
            return;
        }
        let (en, local) = (Pages::default(), Pages::defaults_in(language));
        let p = &mut self.pages;
        for (page, en, local) in [
            (&mut p.welcome, en.welcome, local.welcome),
            (&mut p.consent, en.consent, local.consent),
            (
                &mut p.practice_intro,
                en.practice_intro,
                local.practice_intro,
            ),
            (
                &mut p.practice_retry,
                en.practice_retry,
                local.practice_retry,
            ),
            (&mut p.main_intro, en.main_intro, local.main_intro),
            (
                &mut p.feedback_prompt,
                en.feedback_prompt,
                local.feedback_prompt,
            ),
            (&mut p.end, en.end, local.end),
        ] {
            if *page == en {
                *page = local;
            }
        }
        if p.instructions == en.instructions {
            p.instructions = local.instructions;
        }
    }
}

impl Pages {
    /// The default pages in a shipped language.
    pub fn defaults_in(language: crate::texts::Shipped) -> Pages {
        match language {
            crate::texts::Shipped::En => Pages::default(),
            crate::texts::Shipped::De => Pages {
                welcome: "# Willkommen\n\nVielen Dank, dass Sie an dieser Studie teilnehmen."
                    .into(),
                consent: "Bitte lesen Sie die Informationen zur Studie. Wenn Sie fortfahren, \
                          stimmen Sie der Teilnahme zu."
                    .into(),
                instructions: vec![
                    "In jeder Aufgabe sehen Sie 9 **linke Beispiele** und 9 **rechte Beispiele**. \
                     Entscheiden Sie, welches der beiden Bilder in der Mitte besser zu den rechten \
                     Beispielen passt, und geben Sie an, wie sicher Sie sich sind."
                        .into(),
                ],
                practice_intro: "Wir beginnen mit einigen Übungsaufgaben.".into(),
                practice_retry: "Da nicht alle Aufgaben richtig beantwortet wurden, möchten wir \
                                 Sie bitten, sie zu wiederholen."
                    .into(),
                main_intro: "Gut gemacht! Jetzt beginnt der Hauptteil der Studie.".into(),
                feedback_prompt: "Möchten Sie uns etwas mitteilen? (freiwillig)".into(),
                end: "# Vielen Dank!\n\nIhre Antworten wurden gespeichert.".into(),
            },
        }
    }
}

impl Default for Pages {
    fn default() -> Self {
        Pages {
            welcome: "# Welcome\n\nThank you for taking part in this study.".into(),
            consent: "Please read the study information. By continuing you agree to take part."
                .into(),
            instructions: vec![
                "In each task you see 9 **Left Examples** and 9 **Right Examples**. \
                 Decide which of the two images in the center matches the Right Examples \
                 better, and say how confident you are."
                    .into(),
            ],
            practice_intro: "Let's start with a few practice trials.".into(),
            practice_retry: "As you did not answer all trials correctly, we'd like you to \
                             repeat them."
                .into(),
            main_intro: "Well done! The main part of the study starts now.".into(),
            feedback_prompt: "Do you have any feedback for us? (optional)".into(),
            end: "# Thank you!\n\nYour responses have been saved.".into(),
        }
    }
}

/// The practice block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Practice {
    /// How many rounds a participant may take; after the last round the session goes on
    /// to the main block even if it had errors (the attempts are recorded).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The practice trials; each batch of each unit is one trial.
    pub trials: Vec<Unit>,
}

fn default_max_attempts() -> u32 {
    3
}

/// A unit of a model (one channel of one layer) and its stimulus batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Unique id of the unit within the experiment.
    pub id: String,
    /// The model the unit belongs to.
    pub model: String,
    /// The layer (tensor) name.
    pub layer: String,
    /// The channel index within the layer.
    pub channel: u32,
    /// Which kind of references the batches hold.
    #[serde(default)]
    pub mode: Mode,
    /// The unit's batches; a session shows at most one trial per batch.
    pub batches: Vec<Batch>,
}

/// Kind of reference images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// References are dataset exemplars.
    #[default]
    Natural,
    /// References are feature visualisations (queries stay natural images).
    Optimized,
}

/// One batch of a unit: a folder in the paradigm's layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The batch number (the paradigm's fair-batch index).
    pub batch: u32,
    /// Folder with `min_0..8` and `max_0..8` (and the queries, unless `queries` is set).
    pub references: String,
    /// Folder with the queries `min_9` and `max_9`, if not the references' folder (the
    /// synthetic condition keeps natural queries beside optimized references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<String>,
}

/// How one session's trials are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionDesign {
    /// Main (non-catch) trials per session (the paradigm: 40).
    pub main_trials: u32,
    /// Catch trials per session (the paradigm: 5), shuffled in among the main trials.
    pub catch_trials: u32,
    /// How units and batches are drawn.
    #[serde(default)]
    pub draw: Draw,
}

/// The drawing rule of a session's trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Draw {
    /// Units are drawn without replacement, each with a random batch; when a session has
    /// more trials than units, further rounds draw other batches. No (unit, batch) repeats.
    #[default]
    Random,
    /// The first trials in file order (units, then their batches), shown shuffled.
    First,
}

/// Trial timing, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// Buttons are disabled this long after the trial is painted.
    pub initial_wait_ms: u32,
    /// After a click, the black frame shows this long before the feedback.
    pub feedback_delay_ms: u32,
    /// The feedback shows this long before Continue appears.
    pub feedback_duration_ms: u32,
    /// Whether main trials show "Correct!"/"Incorrect!" (practice always does).
    pub feedback: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            initial_wait_ms: 1500,
            feedback_delay_ms: 350,
            feedback_duration_ms: 1150,
            feedback: true,
        }
    }
}

/// Display requirements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Display {
    /// Minimum inner window width in CSS px; smaller windows see a request to enlarge.
    pub min_width: u32,
    /// Minimum inner window height in CSS px.
    pub min_height: u32,
    /// Whether to ask for fullscreen before the trials.
    pub fullscreen: bool,
}

impl Default for Display {
    fn default() -> Self {
        Display {
            min_width: 940,
            min_height: 600,
            fullscreen: true,
        }
    }
}

/// Stimulus loading.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Loading {
    /// File extension of the stimuli in batch folders.
    pub extension: String,
    /// Attempts per image before the trial is skipped and the failure recorded.
    pub attempts: u32,
    /// How many upcoming trials are preloaded while the current one runs.
    pub preload_ahead: u32,
}

impl Default for Loading {
    fn default() -> Self {
        Loading {
            extension: "png".into(),
            attempts: 3,
            preload_ahead: 2,
        }
    }
}

/// Where the records go (`kind` picks the adapter). See the README's "Collecting data".
// Read in one pass (`Deserialize` below, see `crate::tagged`); the `serde` attributes
// shape its JSON, its schema and the errors' texts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Collect {
    /// Records are POSTed as a JSON envelope (`docs/data.md`) to `url`.
    Http {
        /// The endpoint (relative to the page, or absolute).
        url: String,
        /// Extra request headers, for example `Authorization`.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Run as a JATOS component: each batch is appended to the component's result data
    /// (one JSON record per line), and the study is ended once all are saved.
    Jatos {},
    /// DataPipe (pipe.jspsych.org): each batch becomes one file on the OSF.
    Datapipe {
        /// The DataPipe experiment id.
        experiment_id: String,
        /// The DataPipe endpoint.
        #[serde(default = "default_datapipe_url")]
        url: String,
    },
    /// Amazon Mechanical Turk ExternalQuestion: records go to `url` as with `http`; the
    /// assignment is submitted to MTurk once they are all saved.
    Mturk {
        /// The records endpoint.
        url: String,
        /// Extra request headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Prolific: records go to `url` as with `http`; once all are saved the participant is
    /// sent to Prolific's completion URL with `completion.code`.
    Prolific {
        /// The records endpoint.
        url: String,
        /// Extra request headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// No server: the end page offers the data file for download.
    Download {},
    /// Nothing leaves the browser (dry runs).
    #[default]
    None,
}

fn default_datapipe_url() -> String {
    "https://pipe.jspsych.org/api/data/".into()
}

impl<'de> Deserialize<'de> for Collect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Http,
            Jatos,
            Datapipe,
            Mturk,
            Prolific,
            Download,
            None,
        }
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Collect;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with a \"kind\"")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Collect, A::Error> {
                use crate::tagged::{once, only, required, skip};
                let (mut kind, mut url, mut headers, mut experiment_id, mut unknown) =
                    (None::<Kind>, None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "kind" => once(&mut map, &mut kind, "kind")?,
                        "url" => once(&mut map, &mut url, "url")?,
                        "headers" => once(&mut map, &mut headers, "headers")?,
                        "experiment_id" => once(&mut map, &mut experiment_id, "experiment_id")?,
                        _ => skip(&mut map, key, &mut unknown)?,
                    }
                }
                let kind = required(kind, "kind")?;
                let fields: &'static [&'static str] = match kind {
                    Kind::Http | Kind::Mturk | Kind::Prolific => &["url", "headers"],
                    Kind::Datapipe => &["experiment_id", "url"],
                    Kind::Jatos | Kind::Download | Kind::None => &[],
                };
                let present = [
                    ("url", url.is_some()),
                    ("headers", headers.is_some()),
                    ("experiment_id", experiment_id.is_some()),
                ];
                only(&present, unknown.as_deref(), fields)?;
                let headers = headers.unwrap_or_default();
                Ok(match kind {
                    Kind::Http => Collect::Http {
                        url: required(url, "url")?,
                        headers,
                    },
                    Kind::Mturk => Collect::Mturk {
                        url: required(url, "url")?,
                        headers,
                    },
                    Kind::Prolific => Collect::Prolific {
                        url: required(url, "url")?,
                        headers,
                    },
                    Kind::Datapipe => Collect::Datapipe {
                        experiment_id: required(experiment_id, "experiment_id")?,
                        url: url.unwrap_or_else(default_datapipe_url),
                    },
                    Kind::Jatos => Collect::Jatos {},
                    Kind::Download => Collect::Download {},
                    Kind::None => Collect::None,
                })
            }
        }
        d.deserialize_map(Fields)
    }
}

impl Collect {
    /// The JSON-envelope endpoint and its headers, for the kinds that post to one.
    pub fn endpoint(&self) -> Option<(&str, &BTreeMap<String, String>)> {
        match self {
            Collect::Http { url, headers }
            | Collect::Mturk { url, headers }
            | Collect::Prolific { url, headers } => Some((url, headers)),
            _ => None,
        }
    }
}

/// How records are delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Delivery {
    /// A request not answered in this time is abandoned and retried.
    pub timeout_ms: u32,
    /// Records per request.
    pub batch_size: u32,
    /// While the endpoint has been unreachable this long, the end page offers the
    /// participant a download of the unsaved records (and keeps retrying).
    pub download_after_ms: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            timeout_ms: 10_000,
            batch_size: 50,
            download_after_ms: 60_000,
        }
    }
}

/// The end of a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Completion {
    /// A completion code shown on the end page.
    pub code: Option<String>,
    /// A URL the participant is sent to once every record is saved; `{code}` is replaced
    /// by the completion code.
    pub redirect_url: Option<String>,
}

/// A resolved trial source: one batch of one unit, with its file paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchFiles {
    /// `min_0..8`, in file order.
    pub min_references: Vec<String>,
    /// `max_0..8`, in file order.
    pub max_references: Vec<String>,
    /// `min_9`.
    pub min_query: String,
    /// `max_9`.
    pub max_query: String,
}

impl Experiment {
    /// The resolved stimulus paths of a batch (relative to the experiment folder).
    pub fn batch_files(&self, batch: &Batch) -> BatchFiles {
        let ext = &self.loading.extension;
        let file = |dir: &str, side: &str, i: usize| {
            let dir = dir.trim_end_matches('/');
            if dir.is_empty() {
                format!("{side}_{i}.{ext}")
            } else {
                format!("{dir}/{side}_{i}.{ext}")
            }
        };
        let q = batch.queries.as_deref().unwrap_or(&batch.references);
        BatchFiles {
            min_references: (0..REFERENCES_PER_SIDE)
                .map(|i| file(&batch.references, "min", i))
                .collect(),
            max_references: (0..REFERENCES_PER_SIDE)
                .map(|i| file(&batch.references, "max", i))
                .collect(),
            min_query: file(q, "min", QUERY_INDEX),
            max_query: file(q, "max", QUERY_INDEX),
        }
    }

    /// Every list of units, each with its JSON path (for error messages): the practice,
    /// the units, the catch units and each condition's own practice.
    pub fn unit_groups(&self) -> Vec<(String, &[Unit])> {
        let mut groups: Vec<(String, &[Unit])> = vec![
            ("practice.trials".into(), &self.practice.trials),
            ("units".into(), &self.units),
            ("catch_units".into(), &self.catch_units),
        ];
        for (name, c) in &self.conditions {
            if let Some(practice) = &c.practice {
                groups.push((
                    format!("conditions.{name}.practice.trials"),
                    &practice.trials,
                ));
            }
        }
        groups
    }

    /// Every stimulus file the experiment references, each with the JSON path of the
    /// batch that names it (for error messages).
    pub fn stimulus_files(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, units) in self.unit_groups() {
            for (u, unit) in units.iter().enumerate() {
                for (b, batch) in unit.batches.iter().enumerate() {
                    let f = self.batch_files(batch);
                    let path = format!("{name}[{u}].batches[{b}]");
                    for file in f.min_references.into_iter().chain(f.max_references) {
                        out.push((format!("{path}.references"), file));
                    }
                    let qpath = if batch.queries.is_some() {
                        "queries"
                    } else {
                        "references"
                    };
                    out.push((format!("{path}.{qpath}"), f.min_query));
                    out.push((format!("{path}.{qpath}"), f.max_query));
                }
            }
        }
        out
    }
}
