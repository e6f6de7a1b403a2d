//! `?mode=preview`: the researcher walks the exact session a participant id gets, with
//! the plan as a list, free navigation, an answer-key overlay and the records the answers
//! would produce. Nothing is stored or posted (see [`Mode::Preview`]).

use std::sync::Arc;

use exemplar_core::plan::{Phase, PlannedTrial};
use exemplar_core::score::Stage;
use exemplar_core::Experiment;
use leptos::prelude::*;

use super::delivery;
use super::pages::Session;
use super::session::{Ctx, Mode};

/// The preview page: pick a participant id, then walk its session.
#[component]
pub fn Preview(exp: Arc<Experiment>, base: String) -> impl IntoView {
    let initial = super::browser::query_param("pid").unwrap_or_else(|| "preview-1".to_string());
    let pid = RwSignal::new(initial);
    let typed = RwSignal::new(pid.get_untracked());
    let apply = move || {
        let id = typed.get_untracked().trim().to_string();
        if !id.is_empty() {
            pid.set(id);
        }
    };
    view! {
        <div class="preview" data-testid="preview">
            <header class="preview-bar">
                <strong>"Preview"</strong>
                <span class="hint">" nothing is stored or sent"</span>
                <form on:submit=move |e| { e.prevent_default(); apply(); }>
                    <label>"Participant id "
                        <input data-testid="preview-pid" prop:value=move || typed.get()
                            on:input=move |e| typed.set(event_target_value(&e))/>
                    </label>
                    <button type="submit" data-testid="preview-pid-apply">"Show plan"</button>
                </form>
            </header>
            {move || {
                let (ctx, _) = Ctx::open(exp.clone(), base.clone(), Mode::Preview, Some(pid.get()));
                super::start_session(&ctx, false);
                view! { <PreviewSession ctx=ctx/> }
            }}
        </div>
    }
}

/// Every trial a session can show, in order: each practice round, then the main block.
fn all_trials(ctx: &Ctx) -> Vec<(Stage, PlannedTrial)> {
    let practice = ctx.plan.practice.iter().enumerate().flat_map(|(a, round)| {
        round.iter().enumerate().map(move |(i, t)| {
            (
                Stage::Practice {
                    attempt: a as u32,
                    index: i as u32,
                },
                t.clone(),
            )
        })
    });
    let main = ctx
        .plan
        .main
        .iter()
        .enumerate()
        .map(|(i, t)| (Stage::Main { index: i as u32 }, t.clone()));
    practice.chain(main).collect()
}

fn jump(ctx: &Ctx, stage: Stage) {
    ctx.commit(|s| {
        s.progress.stage = stage;
        s.progress.done = false;
        s.progress.practice_correct = 0;
        s.progress.practice_answered = 0;
    });
}

#[component]
fn PreviewSession(ctx: Ctx) -> impl IntoView {
    let trials = Arc::new(all_trials(&ctx));
    let stage = {
        let ctx = ctx.clone();
        Memo::new(move |_| ctx.saved.with(|s| s.progress.stage.clone()))
    };
    let position = {
        let trials = trials.clone();
        Memo::new(move |_| {
            let current = stage.get();
            trials.iter().position(|(s, _)| *s == current)
        })
    };
    let step = {
        let (ctx, trials) = (ctx.clone(), trials.clone());
        move |forward: bool| {
            let next = match position.get_untracked() {
                Some(i) if forward => i + 1,
                Some(i) => i.saturating_sub(1),
                None => 0,
            };
            if let Some((s, _)) = trials.get(next.min(trials.len().saturating_sub(1))) {
                jump(&ctx, s.clone());
            }
        }
    };
    let (prev, next) = (step.clone(), step);
    let overlay = ctx.overlay;
    let rows = trials
        .iter()
        .enumerate()
        .map(|(i, (s, t))| {
            let (block, index) = match s {
                Stage::Practice { attempt, index } => (format!("practice {}", attempt + 1), *index),
                Stage::Main { index } => ("main".to_string(), *index),
                _ => (String::new(), 0),
            };
            let kind = match t.phase {
                Phase::Catch => "catch",
                Phase::Practice => "practice",
                Phase::Main => "main",
            };
            let correct = if t.switched_queries { "upper" } else { "lower" };
            let (ctx, target) = (ctx.clone(), s.clone());
            let stage_id = format!("{block}/{}", index + 1);
            view! {
                <tr class:current=move || position.get() == Some(i) data-testid="plan-row"
                    data-stage=stage_id data-correct=correct>
                    <td>{block}</td>
                    <td>{index + 1}</td>
                    <td>{kind}</td>
                    <td>{t.unit.unit_id.clone()}</td>
                    <td>{format!("{} · {} · {}", t.unit.model, t.unit.layer, t.unit.channel)}</td>
                    <td>{t.unit.batch}</td>
                    <td>{correct}</td>
                    <td><button data-testid="plan-jump" on:click=move |_| jump(&ctx, target.clone())>"Show"</button></td>
                </tr>
            }
        })
        .collect_view();
    let records = {
        let ctx = ctx.clone();
        move || ctx.saved.with(|s| delivery::jsonl(&s.outbox))
    };
    let count = {
        let ctx = ctx.clone();
        move || ctx.saved.with(|s| s.outbox.len())
    };
    let download = {
        let ctx = ctx.clone();
        move |_| ctx.download_unsaved()
    };
    let seed = ctx.plan.seed;
    view! {
        <div class="preview-tools">
            <span data-testid="preview-seed">{format!("seed {seed}")}</span>
            <button data-testid="preview-prev" on:click=move |_| prev(false)>"◀ Previous trial"</button>
            <button data-testid="preview-next" on:click=move |_| next(true)>"Next trial ▶"</button>
            <label><input type="checkbox" data-testid="preview-overlay" prop:checked=move || overlay.get()
                on:change=move |e| overlay.set(event_target_checked(&e))/>" Answer key and image names"</label>
        </div>
        <details class="preview-plan" open>
            <summary>{format!("Plan: {} trials", trials.len())}</summary>
            <table data-testid="plan">
                <thead><tr><th>"block"</th><th>"#"</th><th>"kind"</th><th>"unit"</th><th>"model · layer · channel"</th><th>"batch"</th><th>"correct query"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
        <Session ctx=ctx.clone()/>
        <details class="preview-data">
            <summary data-testid="data-summary">{move || format!("Records these answers produce ({})", count())}</summary>
            <button data-testid="data-download" on:click=download>"Download JSONL"</button>
            <pre data-testid="data-records">{records}</pre>
        </details>
    }
}

/// The overlay over a trial in preview: the unit, and which query is correct.
#[component]
pub fn TrialKey(trial: PlannedTrial) -> impl IntoView {
    let u = &trial.unit;
    let answer = if trial.switched_queries {
        "upper"
    } else {
        "lower"
    };
    view! {
        <p class="trial-key" data-testid="overlay-key" data-correct=answer>
            {format!(
                "{} · unit {} · {} / {} / channel {} · batch {} · {} references — correct: the {answer} query ({})",
                match trial.phase { Phase::Practice => "practice", Phase::Main => "main", Phase::Catch => "catch" },
                u.unit_id, u.model, u.layer, u.channel, u.batch,
                serde_json::to_value(u.mode).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                trial.max_query,
            )}
        </p>
    }
}
