//! `checks.participant: record` (and `enforce`): while a trial's images load (the trial itself, or ahead
//! of time by the preloader), the engine worker computes its two queries' activations on
//! WebGPU; the trial's record carries what is known when the participant answers. A
//! check never delays a trial, and a participant's CPU is never used for it: without
//! WebGPU the record says `unavailable`.

use exemplar_core::checks::{LiveCheck, LiveStatus};
use exemplar_core::experiment::ParticipantChecks;
use exemplar_core::plan::{Phase, PlannedTrial};
use exemplar_core::record::Replaced;
use exemplar_core::score::Stage;
use leptos::prelude::*;

use super::browser;
use super::engine;
use super::session::{Ctx, Mode};

/// A check is of two query files for one unit: the same files shown for another unit
/// (another model, layer or channel) are another check.
fn key(t: &PlannedTrial) -> String {
    let u = &t.unit;
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        u.model, u.layer, u.channel, t.min_query, t.max_query
    )
}

fn enabled(ctx: &Ctx) -> bool {
    ctx.exp.checks.participant != ParticipantChecks::Off && ctx.mode != Mode::Preview
}

/// Notes a check in the session's [`Ctx::live_checks`]: `None` while it runs.
fn set(ctx: &Ctx, key: &str, check: Option<LiveCheck>) {
    ctx.live_checks.try_update_value(|c| {
        c.insert(key.to_string(), check);
    });
}

/// Starts the check of a trial whose query images are loaded (once per pair of queries).
pub fn start(ctx: &Ctx, trial: &PlannedTrial) {
    if !enabled(ctx) {
        return;
    }
    let k = key(trial);
    if ctx.live_checks.try_with_value(|c| c.contains_key(&k)) != Some(false) {
        return;
    }
    let Some(model) = ctx.exp.checks.models.get(&trial.unit.model).cloned() else {
        set(
            ctx,
            &k,
            Some(LiveCheck::unavailable(format!(
                "no model for \"{}\" in checks.models",
                trial.unit.model
            ))),
        );
        return;
    };
    set(ctx, &k, None);
    let url = browser::resolve_url(&format!("{}{}", ctx.base, model.file));
    let (trial, ctx) = (trial.clone(), ctx.clone());
    leptos::task::spawn_local(async move {
        let paths = [trial.min_query.clone(), trial.max_query.clone()];
        let outcome = engine::activations(
            ctx.engine,
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
        let failed = check.status == LiveStatus::Fail;
        set(&ctx, &k, Some(check));
        if failed && ctx.exp.checks.participant == ParticipantChecks::Enforce {
            replace(&ctx, &trial);
        }
    });
}

/// `enforce`: a main trial not yet shown whose check failed gets the first spare batch of
/// its unit that is not already standing in for another trial; the spare is loaded and
/// checked in turn. The choice is saved, so a reload shows the same trial.
fn replace(ctx: &Ctx, failed: &PlannedTrial) {
    let current = ctx.saved.with_untracked(|s| s.progress.stage.clone());
    let Some((Stage::Main { block, index }, _)) = ctx
        .plan
        .main_ahead(&current)
        .into_iter()
        .find(|(_, t)| key(t) == key(failed))
    else {
        return;
    };
    let position = ctx.plan.main_position(block, index);
    let taken = ctx.saved.with_untracked(|s| s.replacements.clone());
    if taken.contains_key(&position) {
        return;
    }
    let Some(spare) = ctx
        .plan
        .spares(&ctx.exp, block, failed)
        .into_iter()
        .find(|s| !taken.values().any(|t| t.unit == s.unit))
    else {
        return;
    };
    ctx.commit(|s| {
        s.replacements.insert(position, spare.clone());
    });
    let ctx = ctx.clone();
    leptos::task::spawn_local(async move {
        ctx.images
            .load_all(&ctx.base, spare.images(), ctx.exp.loading.attempts)
            .await;
        start(&ctx, &spare);
    });
}

/// The planned trial that `shown` replaced on main trial `stage`, with its check.
pub fn replaced(ctx: &Ctx, shown: &PlannedTrial, stage: &Stage) -> Option<Replaced> {
    if shown.phase != Phase::Main {
        return None;
    }
    let original = ctx.plan.trial(stage)?;
    if key(original) == key(shown) {
        return None;
    }
    Some(Replaced {
        batch: original.unit.batch,
        min_query: original.min_query.clone(),
        max_query: original.max_query.clone(),
        check: outcome(ctx, original)?,
    })
}

/// What the trial's record says about its check, at the moment of the response.
pub fn outcome(ctx: &Ctx, trial: &PlannedTrial) -> Option<LiveCheck> {
    if !enabled(ctx) {
        return None;
    }
    Some(
        ctx.live_checks
            .try_with_value(|c| match c.get(&key(trial)) {
                Some(Some(check)) => check.clone(),
                Some(None) => LiveCheck::timeout(),
                None => LiveCheck::unavailable("the check was not started"),
            })
            .unwrap_or_else(|| LiveCheck::unavailable("the check was not started")),
    )
}
