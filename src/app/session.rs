//! The state of one participant's session, kept in `localStorage` on every change.
//!
//! Progress and the records not yet acknowledged by the endpoint are written together in
//! one `localStorage` item, so a reload or a closed tab can neither lose a record nor make
//! one twice: the page comes back at the same trial, with the same unsent records, and
//! sends them first. Record ids (`<session>-<seq>`) let the endpoint drop resends.

use std::collections::HashMap;
use std::sync::Arc;

use exemplar_core::checks::LiveCheck;
use exemplar_core::experiment::{Collect, Experiment};
use exemplar_core::record::{Body, ParticipantIdSource, PlanChangeReason, Record, RECORD_FORMAT};

use super::kept::Kept;
use exemplar_core::score::Finished;
use exemplar_core::{Phase, Plan, Progress};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::browser;
use super::delivery::{self, SendError};
use super::engine::Engine;
use super::images::Images;

/// Everything about a session that must survive a reload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub session_id: String,
    pub participant_id: String,
    pub participant_id_source: ParticipantIdSource,
    /// Epoch ms of the first load.
    pub started_at: f64,
    pub progress: Progress,
    pub next_seq: u64,
    /// Records not yet acknowledged by the endpoint, in `seq` order.
    pub outbox: Vec<Kept>,
    /// Epoch ms when the first instruction page was shown.
    pub instructions_started: Option<f64>,
    pub pages_visited: Vec<u32>,
    /// Epoch ms of the first and last main-block responses.
    pub main_first_response: Option<f64>,
    pub main_last_response: Option<f64>,
    pub catch_correct: u32,
    pub practice_rounds: u32,
    pub feedback_text: String,
    /// Records the endpoint refused (4xx other than 408/429), with its reason: never
    /// dropped; the end page offers them for download.
    #[serde(default)]
    pub rejected: Vec<Kept>,
    #[serde(default)]
    pub rejected_reason: Option<String>,
    /// `checks.participant` `enforce`: main-block trials replaced by a spare batch because
    /// their check failed, by main index.
    #[serde(default)]
    pub replacements: std::collections::BTreeMap<u32, exemplar_core::PlannedTrial>,
    /// `Plan::hash` of the plan this progress was made for (absent in state saved by
    /// earlier versions).
    #[serde(default)]
    pub plan_hash: Option<String>,
    /// The saved progress did not fit the current experiment: the session stopped (a
    /// `plan_changed` record says why).
    #[serde(default)]
    pub plan_changed: bool,
    /// Why the platform's return address in the URL was refused (`handover_refused`).
    #[serde(default)]
    pub handover_refused: Option<String>,
    /// Keep acknowledged records in `delivered` (for the data file) instead of dropping
    /// them: when the participant cannot be handed back, or storage is failing.
    #[serde(default)]
    pub keep_delivered: bool,
    #[serde(default)]
    pub delivered: Vec<Kept>,
}

impl Saved {
    /// Counts an answer to the current trial (of `phase`, at epoch ms `now`): the progress,
    /// the main block's first and last response times, and the catch trials answered
    /// correctly ([`Progress::answer`] says which apply).
    pub fn count_answer(&mut self, phase: Phase, correct: bool, now: f64) {
        let Some(counted) = self.progress.answer(phase, correct) else {
            return;
        };
        if counted.main_block {
            self.main_first_response.get_or_insert(now);
            self.main_last_response = Some(now);
        }
        self.catch_correct += counted.catch_correct as u32;
    }

    /// The endpoint holds these records now: they leave the outbox.
    pub fn acknowledge(&mut self, ids: &[String]) {
        let (done, rest) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|r| ids.contains(&r.record_id));
        self.outbox = rest;
        if self.keep_delivered {
            self.delivered.extend::<Vec<Kept>>(done);
        }
    }

    /// Every record this browser still holds (delivered and kept, refused, unsent), in
    /// `seq` order: the participant's data file.
    pub fn data_file(&self) -> Vec<Kept> {
        let mut all: Vec<Kept> = self
            .delivered
            .iter()
            .chain(&self.rejected)
            .chain(&self.outbox)
            .cloned()
            .collect();
        all.sort_by_key(|r| r.seq);
        all.dedup_by(|a, b| a.record_id == b.record_id);
        all
    }

    /// The endpoint refused these records: they move from the outbox to the records kept
    /// aside (offered as a file), never dropped.
    pub fn set_aside(&mut self, ids: &[String], reason: String) {
        let (refused, rest) = std::mem::take(&mut self.outbox)
            .into_iter()
            .partition(|r| ids.contains(&r.record_id));
        self.outbox = rest;
        self.rejected.extend::<Vec<Kept>>(refused);
        self.rejected_reason = Some(reason);
    }
}

/// Delivery state shown to the participant.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    Idle,
    Sending,
    /// The last attempt failed; retrying.
    Failed(String),
}

/// Who is at the keyboard.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// A participant: progress kept in storage, records posted.
    Participant,
    /// The researcher's preview (`?mode=preview`): nothing stored, nothing posted; the
    /// records stay in memory for the data panel.
    Preview,
    /// A simulated participant (`?simulate=P`) drives the session; its progress is kept
    /// apart from a real one's, and its records are posted only with `&post=1`.
    Simulate {
        /// Probability of a correct answer.
        p_correct: f64,
        /// Waits (reading, response times) are divided by this.
        speed: f64,
        /// Post the records to the endpoint.
        post: bool,
    },
}

impl Mode {
    /// The mode the page's URL asks for.
    pub fn from_url() -> Result<Mode, String> {
        if let Some(p) = browser::query_param("simulate") {
            let p_correct = browser::parse_number(&p)
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| {
                    format!(
                        "simulate={p}: give the probability of a correct answer, between 0 and 1"
                    )
                })?;
            let speed = match browser::query_param("speed") {
                None => 1.0,
                Some(s) => browser::parse_number(&s)
                    .filter(|s| *s >= 1.0 && *s <= 1000.0)
                    .ok_or_else(|| format!("speed={s}: give a factor between 1 and 1000"))?,
            };
            let post = browser::query_param("post").as_deref() == Some("1");
            return Ok(Mode::Simulate {
                p_correct,
                speed,
                post,
            });
        }
        match browser::query_param("mode").as_deref() {
            None | Some("participant") => Ok(Mode::Participant),
            Some("preview") => Ok(Mode::Preview),
            Some(other) => Err(format!(
                "mode={other}: known modes are preview and participant"
            )),
        }
    }

    fn storage_prefix(&self) -> &'static str {
        match self {
            Mode::Simulate { .. } => "exemplar-sim",
            _ => "exemplar",
        }
    }
}

/// What every component of a session shares. Cheap to clone; all `Send`.
#[derive(Clone)]
pub struct Ctx {
    pub mode: Mode,
    pub exp: Arc<Experiment>,
    pub plan: Arc<Plan>,
    /// URL of the experiment folder, ending in `/`.
    pub base: Arc<str>,
    key: Arc<str>,
    pub saved: RwSignal<Saved>,
    pub delivery: RwSignal<Delivery>,
    /// When the current run of failed attempts began.
    unreachable_since: RwSignal<Option<f64>>,
    /// The endpoint has been unreachable past `delivery.download_after_ms`.
    pub offer_download: RwSignal<bool>,
    flushing: RwSignal<bool>,
    /// Writing to `localStorage` failed at least once (quota, private mode): the records
    /// are kept on the page, sent as usual and offered as a file; the warning stays.
    pub storage_failed: RwSignal<bool>,
    /// The stimulus checks of this session (`checks.participant`), by their key in
    /// `live_check`: `None` while one runs.
    pub live_checks: StoredValue<HashMap<String, Option<LiveCheck>>>,
    /// The page's engine worker (shared by every session on the page).
    pub engine: Engine,
    /// The page's stimuli (shared by every session on the page).
    pub images: Images,
}

/// How a session was opened.
#[derive(Clone, Debug, PartialEq)]
pub enum Opened {
    /// A new session.
    Started,
    /// Saved progress that fits the plan.
    Resumed,
    /// Saved progress that does not fit the plan (first seen now): the session stops.
    PlanChanged {
        saved_plan_hash: Option<String>,
        reason: PlanChangeReason,
    },
    /// A session stopped earlier for that reason, opened again.
    Stopped,
}

impl Ctx {
    /// Restores the session of this participant, or starts one. A preview names its
    /// participant and, optionally, its group (`preview`) and never restores or stores
    /// anything.
    pub fn open(
        exp: Arc<Experiment>,
        base: String,
        engine: Engine,
        images: Images,
        mode: Mode,
        preview: Option<(String, Option<String>)>,
    ) -> (Ctx, Opened) {
        let (participant_id, source, group) = match preview {
            Some((id, group)) => (id, ParticipantIdSource::Preview, group),
            None => {
                let (id, source) = participant_id(&exp, &mode);
                (id, source, browser::query_param("condition"))
            }
        };
        let key = storage_key(&exp, &mode, &participant_id);
        // The page refused an unknown `?condition=` before opening the session.
        let plan = Arc::new(
            Plan::for_link(&exp, &participant_id, group.as_deref())
                .unwrap_or_else(|_| Plan::for_participant(&exp, &participant_id)),
        );
        let plan_hash = plan.hash();
        let mut restored = (mode != Mode::Preview)
            .then(|| browser::load(&key))
            .flatten()
            .and_then(|text| serde_json::from_str::<Saved>(&text).ok());
        // Saved progress is used only for the plan it was made for, and only if every
        // index in it points inside that plan.
        let opened = match &mut restored {
            None => Opened::Started,
            Some(s) if s.plan_changed => Opened::Stopped,
            Some(s) => {
                let same_plan = s.plan_hash.as_deref().is_none_or(|h| h == plan_hash);
                let fits = s.progress.fits(&exp, &plan)
                    && s.replacements
                        .keys()
                        .all(|i| (*i as usize) < plan.main_count());
                if same_plan && fits {
                    s.plan_hash = Some(plan_hash.clone());
                    Opened::Resumed
                } else {
                    Opened::PlanChanged {
                        saved_plan_hash: s.plan_hash.clone(),
                        reason: if same_plan {
                            PlanChangeReason::ProgressOutOfRange
                        } else {
                            PlanChangeReason::PlanHashDiffers
                        },
                    }
                }
            }
        };
        let saved = restored.unwrap_or_else(|| Saved {
            session_id: browser::random_id(12),
            participant_id: participant_id.clone(),
            participant_id_source: source,
            started_at: browser::epoch_ms(),
            progress: Progress::default(),
            next_seq: 0,
            outbox: Vec::new(),
            instructions_started: None,
            pages_visited: Vec::new(),
            main_first_response: None,
            main_last_response: None,
            catch_correct: 0,
            practice_rounds: 0,
            feedback_text: String::new(),
            rejected: Vec::new(),
            rejected_reason: None,
            replacements: Default::default(),
            plan_hash: Some(plan_hash.clone()),
            plan_changed: false,
            handover_refused: None,
            keep_delivered: false,
            delivered: Vec::new(),
        });
        let ctx = Ctx {
            mode,
            exp,
            plan,
            base: base.into(),
            key: key.into(),
            saved: RwSignal::new(saved),
            delivery: RwSignal::new(Delivery::Idle),
            unreachable_since: RwSignal::new(None),
            offer_download: RwSignal::new(false),
            flushing: RwSignal::new(false),
            storage_failed: RwSignal::new(false),
            live_checks: StoredValue::new(HashMap::new()),
            engine,
            images,
        };
        if ctx.posts() {
            ctx.watch_connectivity();
        }
        (ctx, opened)
    }

    /// Whether records go to the endpoint: not in a preview, not with the download
    /// adapter, not in a simulation without `post=1`.
    pub fn posts(&self) -> bool {
        match self.mode {
            Mode::Preview => false,
            Mode::Simulate { post, .. } if !post => false,
            _ => !matches!(self.exp.collect, Collect::Download {}),
        }
    }

    /// Changes the saved state and writes it to storage at once.
    pub fn commit(&self, f: impl FnOnce(&mut Saved)) {
        self.saved.update(f);
        if self.mode == Mode::Preview {
            return;
        }
        let text = self
            .saved
            .with_untracked(|s| serde_json::to_string(s).unwrap_or_default());
        if !browser::store(&self.key, &text) && !self.storage_failed.get_untracked() {
            // From now on the page is the only copy: acknowledged records are kept too,
            // so the data file offered holds everything since.
            self.storage_failed.set(true);
            self.saved.update(|s| s.keep_delivered = true);
        }
    }

    /// Goes to the next page.
    pub fn advance(&self) {
        let (exp, plan) = (self.exp.clone(), self.plan.clone());
        self.commit(|s| s.progress.advance(&exp, &plan));
    }

    /// Leaves an answered or skipped trial ([`Progress::finish_trial`]; only once per
    /// trial); the end of a practice round is recorded.
    pub fn finish_trial(&self) {
        let (exp, plan) = (self.exp.clone(), self.plan.clone());
        let finished = self.saved.with_untracked(|s| {
            let mut progress = s.progress.clone();
            progress
                .finish_trial(&exp, &plan)
                .map(|finished| (finished, progress))
        });
        match finished {
            None => {}
            Some((Finished::Next, progress)) => self.commit(|s| s.progress = progress),
            Some((Finished::RoundEnded(round), progress)) => {
                let block = self.plan.group.as_ref().map(|_| round.block);
                let body = Body::PracticeRound {
                    block,
                    attempt: round.attempt,
                    correct: round.correct,
                    answered: round.answered,
                    next: round.outcome.next(),
                };
                // Every round of every block counts (one block: its rounds used).
                self.emit(body, |s| {
                    s.practice_rounds += 1;
                    s.progress = progress;
                });
            }
        }
    }

    /// Makes a record, saves it in the outbox with any state change, and sends it.
    pub fn emit(&self, body: Body, also: impl FnOnce(&mut Saved)) {
        let exp = self.exp.clone();
        self.commit(|s| {
            let now = browser::epoch_ms();
            let record = Record {
                record_id: format!("{}-{}", s.session_id, s.next_seq),
                format: RECORD_FORMAT.to_string(),
                session_id: s.session_id.clone(),
                participant_id: s.participant_id.clone(),
                participant_id_source: s.participant_id_source,
                experiment_id: exp.id.clone(),
                experiment_version: exp.version.clone(),
                seq: s.next_seq,
                time_elapsed: now - s.started_at,
                timestamp: now,
                body,
            };
            s.next_seq += 1;
            s.outbox.push(Kept::new(&record));
            also(s);
        });
        self.flush();
    }

    /// Sends the outbox, oldest first, until it is empty. Transient failures are retried
    /// with exponential backoff and jitter (or the server's `Retry-After`), without limit
    /// while the page is open; refused records are kept aside, never dropped.
    pub fn flush(&self) {
        if self.flushing.get_untracked() || !self.posts() {
            return;
        }
        self.flushing.set(true);
        let ctx = self.clone();
        leptos::task::spawn_local(async move {
            let mut failures = 0u32;
            let batch_size = ctx.exp.delivery.batch_size.max(1) as usize;
            loop {
                let batch: Vec<Kept> = ctx
                    .saved
                    .with_untracked(|s| s.outbox.iter().take(batch_size).cloned().collect());
                if batch.is_empty() {
                    break;
                }
                ctx.delivery.set(Delivery::Sending);
                let ids: Vec<String> = batch.iter().map(|r| r.record_id.clone()).collect();
                match delivery::send(&ctx.exp, &batch).await {
                    Ok(()) => {
                        failures = 0;
                        ctx.unreachable_since.set(None);
                        ctx.commit(|s| s.acknowledge(&ids));
                    }
                    Err(SendError::Permanent(reason)) => {
                        ctx.commit(|s| s.set_aside(&ids, reason));
                    }
                    Err(SendError::Conflicts { reason, conflicts }) => {
                        // The endpoint stored the rest of the batch; only the records it
                        // holds with other content are kept aside.
                        failures = 0;
                        ctx.unreachable_since.set(None);
                        ctx.commit(|s| {
                            s.set_aside(&conflicts, reason);
                            s.acknowledge(&ids);
                        });
                    }
                    Err(SendError::Transient {
                        reason,
                        retry_after_ms,
                    }) => {
                        failures += 1;
                        let now = browser::epoch_ms();
                        let since = ctx.unreachable_since.get_untracked().unwrap_or(now);
                        ctx.unreachable_since.set(Some(since));
                        let offer_at = ctx.exp.delivery.download_after_ms as f64;
                        if now - since >= offer_at {
                            ctx.offer_download.set(true);
                        }
                        ctx.delivery.set(Delivery::Failed(reason));
                        let backoff = 1000u32.saturating_mul(1 << failures.min(4)).min(15_000);
                        let jitter = (js_sys::Math::random() * backoff as f64 * 0.3) as u32;
                        let mut wait = retry_after_ms.unwrap_or(backoff + jitter).min(60_000);
                        if !ctx.offer_download.get_untracked() {
                            // Wake up in time to offer the download when it is due.
                            wait = wait.min((offer_at - (now - since)).max(250.0) as u32);
                        }
                        delivery::sleep_or_wake(wait).await;
                    }
                }
            }
            ctx.delivery.set(Delivery::Idle);
            ctx.flushing.set(false);
        });
    }

    /// Records not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.saved.with(|s| s.outbox.len())
    }

    /// The records this browser holds (unsent, refused, and those kept after delivery)
    /// as a data file for the participant to send.
    pub fn download_unsaved(&self) {
        let (name, text) = self.saved.with_untracked(|s| {
            let all = s.data_file();
            (
                format!(
                    "exemplar-{}-{}-{}.jsonl",
                    self.exp.id, s.participant_id, s.session_id
                ),
                delivery::jsonl(&all),
            )
        });
        delivery::download(&name, &text);
    }

    /// Resumes sending as soon as the browser is back online, and hands the outbox to the
    /// browser when the page goes away.
    fn watch_connectivity(&self) {
        let ctx = self.clone();
        let online = window_event_listener(leptos::ev::online, move |_| {
            delivery::wake();
            ctx.flush();
        });
        let ctx = self.clone();
        let exit = move || {
            let records = ctx.saved.with_untracked(|s| s.outbox.clone());
            if !records.is_empty() {
                delivery::send_on_exit(&ctx.exp.collect, &records);
            }
        };
        let exit2 = exit.clone();
        let hide = window_event_listener(leptos::ev::pagehide, move |_| exit());
        let hidden = window_event_listener(leptos::ev::visibilitychange, move |_| {
            if browser::window().document().is_some_and(|d| d.hidden()) {
                exit2();
            }
        });
        // These live as long as the page.
        std::mem::forget((online, hide, hidden));
    }
}

/// Where a participant's session is kept in `localStorage` (also the name of the Web
/// Lock that keeps it to one tab).
pub fn storage_key(exp: &Experiment, mode: &Mode, participant_id: &str) -> String {
    format!(
        "{}/{}/{}/{}",
        mode.storage_prefix(),
        exp.id,
        exp.version,
        participant_id
    )
}

/// The participant's plan: the group a `?condition=` link names (checked against the
/// design's group names), else the one balanced by the participant id.
pub fn plan_for(
    exp: &Experiment,
    participant_id: &str,
) -> Result<Plan, exemplar_core::plan::UnknownGroup> {
    let condition = browser::query_param("condition");
    Plan::for_link(exp, participant_id, condition.as_deref())
}

/// The participant id from the URL, or a random one kept in this browser.
pub fn participant_id(exp: &Experiment, mode: &Mode) -> (String, ParticipantIdSource) {
    for (name, source) in [
        ("PROLIFIC_PID", ParticipantIdSource::ProlificPid),
        ("workerId", ParticipantIdSource::WorkerId),
        ("pid", ParticipantIdSource::Pid),
    ] {
        if let Some(id) = browser::query_param(name) {
            return (id, source);
        }
    }
    let key = format!("{}/{}/anonymous", mode.storage_prefix(), exp.id);
    let prefix = if matches!(mode, Mode::Simulate { .. }) {
        "sim"
    } else {
        "anon"
    };
    let id = browser::load(&key).unwrap_or_else(|| {
        let id = format!("{prefix}-{}", browser::random_id(8));
        browser::store(&key, &id);
        id
    });
    (id, ParticipantIdSource::Random)
}
