//! `checks.participant: record`: while a trial's images load (the trial itself, or ahead
//! of time by the preloader), the engine worker computes its two queries' activations on
//! WebGPU; the trial's record carries what is known when the participant answers. A
//! check never delays a trial, and a participant's CPU is never used for it: without
//! WebGPU the record says `unavailable`.

use std::cell::RefCell;
use std::collections::HashMap;

use exemplar_core::checks::LiveCheck;
use exemplar_core::experiment::ParticipantChecks;
use exemplar_core::plan::PlannedTrial;

use super::browser;
use super::engine;
use super::session::{Ctx, Mode};

enum Slot {
    Running,
    Done(LiveCheck),
}

thread_local! {
    static CHECKS: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

fn key(t: &PlannedTrial) -> String {
    format!("{}\u{1f}{}", t.min_query, t.max_query)
}

fn enabled(ctx: &Ctx) -> bool {
    ctx.exp.checks.participant == ParticipantChecks::Record && ctx.mode != Mode::Preview
}

fn set(key: &str, slot: Slot) {
    CHECKS.with(|c| c.borrow_mut().insert(key.to_string(), slot));
}

/// Starts the check of a trial whose query images are loaded (once per pair of queries).
pub fn start(ctx: &Ctx, trial: &PlannedTrial) {
    if !enabled(ctx) {
        return;
    }
    let k = key(trial);
    if CHECKS.with(|c| c.borrow().contains_key(&k)) {
        return;
    }
    let Some(model) = ctx.exp.checks.models.get(&trial.unit.model).cloned() else {
        set(
            &k,
            Slot::Done(LiveCheck::unavailable(format!(
                "no model for \"{}\" in checks.models",
                trial.unit.model
            ))),
        );
        return;
    };
    set(&k, Slot::Running);
    let url = browser::resolve_url(&format!("{}{}", ctx.base, model.file));
    let trial = trial.clone();
    leptos::task::spawn_local(async move {
        let paths = [trial.min_query.clone(), trial.max_query.clone()];
        let outcome = engine::activations(
            &url,
            &model,
            &trial.unit.layer,
            trial.unit.channel,
            &paths,
            engine::Backend::GpuOnly,
        )
        .await;
        let check = match outcome {
            Ok((v, c)) if v.len() == 2 => LiveCheck::computed(v[0], v[1], &c.backend, c.ms),
            Ok(_) => LiveCheck::unavailable("the engine answered with the wrong number of values"),
            Err(e) => LiveCheck::unavailable(e),
        };
        set(&k, Slot::Done(check));
    });
}

/// What the trial's record says about its check, at the moment of the response.
pub fn outcome(ctx: &Ctx, trial: &PlannedTrial) -> Option<LiveCheck> {
    if !enabled(ctx) {
        return None;
    }
    Some(CHECKS.with(|c| match c.borrow().get(&key(trial)) {
        Some(Slot::Done(check)) => check.clone(),
        Some(Slot::Running) => LiveCheck::timeout(),
        None => LiveCheck::unavailable("the check was not started"),
    }))
}
