//! The state of one participant's session, kept in `localStorage` on every change.
//!
//! Progress and the records not yet acknowledged by the endpoint are written together in
//! one `localStorage` item, so a reload or a closed tab can neither lose a record nor make
//! one twice: the page comes back at the same trial, with the same unsent records, and
//! sends them first. Record ids (`<session>-<seq>`) let the endpoint drop resends.

use std::sync::Arc;

use exemplar_core::experiment::{Collect, Experiment};
use exemplar_core::record::{Body, Envelope, Record, RECORD_FORMAT};
use exemplar_core::{Plan, Progress};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::browser;

/// Everything about a session that must survive a reload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub session_id: String,
    pub participant_id: String,
    pub participant_id_source: String,
    /// Epoch ms of the first load.
    pub started_at: f64,
    pub progress: Progress,
    pub next_seq: u64,
    /// Records not yet acknowledged by the endpoint, in `seq` order.
    pub outbox: Vec<Record>,
    /// Epoch ms when the first instruction page was shown.
    pub instructions_started: Option<f64>,
    pub pages_visited: Vec<u32>,
    /// Epoch ms of the first and last main-block responses.
    pub main_first_response: Option<f64>,
    pub main_last_response: Option<f64>,
    pub catch_correct: u32,
    pub practice_rounds: u32,
    pub feedback_text: String,
}

/// Delivery state shown to the participant.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    Idle,
    Sending,
    /// The last attempt failed; retrying.
    Failed(String),
}

/// What every component of a session shares. Cheap to clone; all `Send`.
#[derive(Clone)]
pub struct Ctx {
    pub exp: Arc<Experiment>,
    pub plan: Arc<Plan>,
    /// URL of the experiment folder, ending in `/`.
    pub base: Arc<str>,
    key: Arc<str>,
    pub saved: RwSignal<Saved>,
    pub delivery: RwSignal<Delivery>,
    flushing: RwSignal<bool>,
}

impl Ctx {
    /// Restores the session of this participant, or starts one.
    pub fn open(exp: Arc<Experiment>, base: String) -> (Ctx, bool) {
        let (participant_id, source) = participant_id(&exp);
        let key = format!("exemplar/{}/{}/{}", exp.id, exp.version, participant_id);
        let restored =
            browser::load(&key).and_then(|text| serde_json::from_str::<Saved>(&text).ok());
        let resumed = restored.is_some();
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
        });
        let plan = Arc::new(Plan::for_participant(&exp, &participant_id));
        let ctx = Ctx {
            exp,
            plan,
            base: base.into(),
            key: key.into(),
            saved: RwSignal::new(saved),
            delivery: RwSignal::new(Delivery::Idle),
            flushing: RwSignal::new(false),
        };
        (ctx, resumed)
    }

    /// Changes the saved state and writes it to storage at once.
    pub fn commit(&self, f: impl FnOnce(&mut Saved)) {
        self.saved.update(f);
        let text = self
            .saved
            .with_untracked(|s| serde_json::to_string(s).unwrap_or_default());
        if !browser::store(&self.key, &text) {
            self.delivery.set(Delivery::Failed(
                "this browser does not allow saving progress (private mode?)".into(),
            ));
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
                participant_id_source: s.participant_id_source.clone(),
                experiment_id: exp.id.clone(),
                experiment_version: exp.version.clone(),
                seq: s.next_seq,
                time_elapsed: now - s.started_at,
                timestamp: now,
                body,
            };
            s.next_seq += 1;
            s.outbox.push(record);
            also(s);
        });
        self.flush();
    }

    /// Sends the outbox, oldest first, until it is empty; retries with backoff on failure.
    pub fn flush(&self) {
        if self.flushing.get_untracked() {
            return;
        }
        self.flushing.set(true);
        let ctx = self.clone();
        leptos::task::spawn_local(async move {
            let mut failures = 0u32;
            loop {
                let batch: Vec<Record> = ctx
                    .saved
                    .with_untracked(|s| s.outbox.iter().take(100).cloned().collect());
                if batch.is_empty() {
                    break;
                }
                ctx.delivery.set(Delivery::Sending);
                match send(&ctx.exp.collect, batch.clone()).await {
                    Ok(()) => {
                        failures = 0;
                        ctx.commit(|s| {
                            s.outbox
                                .retain(|r| !batch.iter().any(|b| b.record_id == r.record_id))
                        });
                    }
                    Err(e) => {
                        failures += 1;
                        ctx.delivery.set(Delivery::Failed(e));
                        // Exponential backoff with jitter, capped at 30 s.
                        let base = 1000u32.saturating_mul(1 << failures.min(5)).min(30_000);
                        let jitter = (js_sys::Math::random() * base as f64 * 0.3) as u32;
                        browser::sleep(base + jitter).await;
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
}

async fn send(collect: &Collect, records: Vec<Record>) -> Result<(), String> {
    match collect {
        Collect::None => Ok(()),
        Collect::Http { url, headers } => {
            let envelope = Envelope {
                format: RECORD_FORMAT.to_string(),
                records,
            };
            let mut request = gloo_net::http::Request::post(url);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request
                .json(&envelope)
                .map_err(|e| e.to_string())?
                .send()
                .await
                .map_err(|e| format!("the endpoint is not reachable ({e})"))?;
            if response.ok() {
                Ok(())
            } else {
                Err(format!("the endpoint answered HTTP {}", response.status()))
            }
        }
    }
}

/// The participant id from the URL, or a random one kept in this browser.
fn participant_id(exp: &Experiment) -> (String, String) {
    for name in ["PROLIFIC_PID", "workerId", "pid"] {
        if let Some(id) = browser::query_param(name) {
            return (id, name.to_string());
        }
    }
    let key = format!("exemplar/{}/anonymous", exp.id);
    let id = browser::load(&key).unwrap_or_else(|| {
        let id = format!("anon-{}", browser::random_id(8));
        browser::store(&key, &id);
        id
    });
    (id, "random".to_string())
}
