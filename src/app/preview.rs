//! `?mode=preview`: the researcher walks the exact session a participant id gets, with
//! the plan as a list, free navigation, an answer-key overlay and the records the answers
//! would produce. Nothing is stored or posted (see [`Mode::Preview`]).

use std::sync::Arc;

use exemplar_core::plan::{Phase, PlannedTrial};
use exemplar_core::score::Stage;
use exemplar_core::Experiment;
use leptos::prelude::*;

use super::delivery;
use super::engine::Engine;
use super::images::Images;
use super::pages::Session;
use super::session::{Ctx, Mode};
use super::trial::Overlay;

/// The preview page: pick a participant id, then walk its session.
#[component]
pub fn Preview(
    exp: Arc<Experiment>,
    base: String,
    engine: Engine,
    images: Images,
) -> impl IntoView {
    let initial = super::browser::query_param("pid").unwrap_or_else(|| "preview-1".to_string());
    let pid = RwSignal::new(initial);
    let typed = RwSignal::new(pid.get_untracked());
    let apply = move || {
        let id = typed.get_untracked().trim().to_string();
        if !id.is_empty() {
            pid.set(id);
        }
    };
    // A design's groups: the one the participant id balances to, or one picked (as a
    // link's `?condition=` would).
    let groups: Vec<String> = exp
        .design
        .iter()
        .flat_map(|d| d.groups.iter().map(|g| g.name.clone()))
        .collect();
    let group =
        RwSignal::new(super::browser::query_param("condition").filter(|c| groups.contains(c)));
    let group_select = (groups.len() > 1).then(|| {
        let options = groups
            .iter()
            .map(|g| view! { <option value=g.clone() selected=group.get_untracked().as_ref() == Some(g)>{g.clone()}</option> })
            .collect_view();
        view! {
            <label>"Group "
                <select data-testid="preview-group"
                    on:change=move |e| {
                        let v = event_target_value(&e);
                        group.set((!v.is_empty()).then_some(v));
                    }>
                    <option value="" selected=group.get_untracked().is_none()>"by participant id"</option>
                    {options}
                </select>
            </label>
        }
    });
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
                {group_select}
            </header>
            {move || {
                let previewed = (pid.get(), group.get());
                let (ctx, _) = Ctx::open(exp.clone(), base.clone(), engine, images, Mode::Preview, Some(previewed));
                super::start_session(&ctx, super::session::Opened::Started);
                view! { <PreviewSession ctx=ctx/> }
            }}
        </div>
    }
}

fn jump(ctx: &Ctx, stage: Stage) {
    ctx.commit(|s| s.progress.jump(stage));
}

#[component]
fn PreviewSession(ctx: Ctx) -> impl IntoView {
    let stages = Arc::new(ctx.plan.trial_stages());
    let stage = {
        let ctx = ctx.clone();
        Memo::new(move |_| ctx.saved.with(|s| s.progress.stage.clone()))
    };
    let position = {
        let stages = stages.clone();
        Memo::new(move |_| {
            let current = stage.get();
            stages.iter().position(|s| *s == current)
        })
    };
    let step = {
        let ctx = ctx.clone();
        move |forward: bool| {
            if let Some(s) = ctx.plan.step_trial(&stage.get_untracked(), forward) {
                jump(&ctx, s);
            }
        }
    };
    let (prev, next) = (step.clone(), step);
    // Answer key and image names over the trials.
    let shown = RwSignal::new(true);
    let overlay = Overlay {
        shown: shown.into(),
        panel: {
            let ctx = ctx.clone();
            Arc::new(move |trial| view! { <TrialKey ctx=ctx.clone() trial=trial/> }.into_any())
        },
    };
    let rows = stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s, ctx.plan.trial(s)?)))
        .map(|(i, s, t)| {
            let (block, index) = match s {
                Stage::Practice { attempt, index, .. } => {
                    (format!("practice {}", attempt + 1), *index)
                }
                Stage::Main { index, .. } => ("main".to_string(), *index),
                _ => (String::new(), 0),
            };
            // With a design, each row names its block and condition.
            let block = match ctx.plan.block(s).and_then(|b| b.condition.as_deref()) {
                Some(condition) => {
                    format!("{}. {condition}: {block}", s.block().unwrap_or(0) + 1)
                }
                None => block,
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
            <label><input type="checkbox" data-testid="preview-overlay" prop:checked=move || shown.get()
                on:change=move |e| shown.set(event_target_checked(&e))/>" Answer key and image names"</label>
        </div>
        <CheckAll ctx=ctx.clone()/>
        <details class="preview-plan" open>
            <summary>{format!("Plan: {} trials", stages.len())}</summary>
            <table data-testid="plan">
                <thead><tr><th>"block"</th><th>"#"</th><th>"kind"</th><th>"unit"</th><th>"model · layer · channel"</th><th>"batch"</th><th>"correct query"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
        <Session ctx=ctx.clone() overlay=overlay/>
        <details class="preview-data">
            <summary data-testid="data-summary">{move || format!("Records these answers produce ({})", count())}</summary>
            <button data-testid="data-download" on:click=download>"Download JSONL"</button>
            <pre data-testid="data-records">{records}</pre>
        </details>
    }
}

/// The overlay over a trial in preview: the unit, and which query is correct.
#[component]
fn TrialKey(ctx: Ctx, trial: PlannedTrial) -> impl IntoView {
    let u = &trial.unit;
    let answer = if trial.switched_queries {
        "upper"
    } else {
        "lower"
    };
    let machine = ctx
        .exp
        .checks
        .encoder
        .is_some()
        .then(|| view! { <MachinePanel ctx=ctx.clone() trial=trial.clone()/> });
    let panel = view! { <ActivationPanel ctx=ctx trial=trial.clone()/> };
    view! {
        {panel}
        {machine}
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

/// Where a computation stands.
#[derive(Clone)]
enum Computation {
    Running,
    Done(Vec<f32>, super::engine::Computed),
    Failed(String),
}

/// Computes the activations of `paths` (in [`super::engine::trial_images`] order) for the
/// unit, if the experiment has a model for it.
async fn compute(
    ctx: &Ctx,
    unit: &exemplar_core::plan::UnitRef,
    paths: &[String],
) -> Option<Result<(Vec<f32>, super::engine::Computed), String>> {
    let model = ctx.exp.checks.models.get(&unit.model)?;
    let url = super::browser::resolve_url(&format!("{}{}", ctx.base, model.file));
    Some(
        super::engine::activations(
            ctx.engine,
            &url,
            model,
            &unit.layer,
            unit.channel,
            paths,
            super::engine::Backend::Any,
        )
        .await,
    )
}

/// The activations of a trial's images (20 in the paradigm's condition) on one axis, and
/// what is wrong with them.
#[component]
pub fn ActivationPanel(ctx: Ctx, trial: PlannedTrial) -> impl IntoView {
    if !ctx.exp.checks.models.contains_key(&trial.unit.model) {
        return view! {
            <p class="activations" data-testid="activations" data-state="no-model">
                {format!("No model for \"{}\" in checks.models: activations are not computed.", trial.unit.model)}
            </p>
        }
        .into_any();
    }
    let state = RwSignal::new(Computation::Running);
    {
        let (ctx, trial) = (ctx.clone(), trial.clone());
        leptos::task::spawn_local(async move {
            let paths = super::engine::trial_images(&trial);
            let result = compute(&ctx, &trial.unit, &paths).await;
            state.try_set(match result {
                Some(Ok((values, computed))) => Computation::Done(values, computed),
                Some(Err(e)) => Computation::Failed(e),
                None => Computation::Failed("no model".into()),
            });
        });
    }
    (move || match state.get() {
        Computation::Running => view! {
            <p class="activations" data-testid="activations" data-state="running">"Computing activations…"</p>
        }
        .into_any(),
        Computation::Failed(e) => view! {
            <p class="activations warning" data-testid="activations" data-state="failed">{format!("Activations could not be computed: {e}")}</p>
        }
        .into_any(),
        Computation::Done(values, computed) => {
            let Some(acts) =
                super::engine::split(&values, trial.min_references.len(), trial.max_references.len())
            else {
                return view! { <p data-testid="activations" data-state="failed">"wrong number of values"</p> }.into_any();
            };
            let violations = exemplar_core::checks::check(&acts);
            let json = serde_json::to_string(&acts).unwrap_or_default();
            let backend = match &computed.adapter {
                Some(a) => format!("WebGPU ({a})"),
                None => format!("CPU{}", computed.gpu_error.as_ref().map(|e| format!(" (no WebGPU: {e})")).unwrap_or_default()),
            };
            let verdict = if violations.is_empty() { "pass" } else { "fail" };
            view! {
                <div class="activations" data-testid="activations" data-state="done" data-verdict=verdict
                    data-values=json data-backend=computed.backend.clone()>
                    {plot(&acts)}
                    <p class="hint">{format!("{} · {:.0} ms · {}", backend, computed.ms,
                        if violations.is_empty() { "no problems".to_string() } else { format!("{} problem(s)", violations.len()) })}</p>
                    <ul class="violations">
                        {violations.iter().map(|v| view! { <li class="warning" data-testid="violation">{v.describe()}</li> }).collect_view()}
                    </ul>
                </div>
            }
            .into_any()
        }
    })
    .into_any()
}

/// The machine's answer to the trial (`checks.encoder`): each image embedded by the
/// encoder, Δ and the predicted accuracy from core's `mis`, as `exemplar mis` computes them.
#[component]
fn MachinePanel(ctx: Ctx, trial: PlannedTrial) -> impl IntoView {
    let state =
        RwSignal::new(None::<Result<(exemplar_core::mis::TrialScore, f64, String), String>>);
    {
        let (ctx, trial) = (ctx.clone(), trial.clone());
        leptos::task::spawn_local(async move {
            let result = machine(&ctx, &trial).await;
            state.try_set(Some(result));
        });
    }
    move || {
        match state.get() {
        None => view! {
            <p class="activations" data-testid="machine" data-state="running">"Computing the machine's answer…"</p>
        }
        .into_any(),
        Some(Err(e)) => view! {
            <p class="activations warning" data-testid="machine" data-state="failed">{format!("The machine's answer could not be computed: {e}")}</p>
        }
        .into_any(),
        Some(Ok((score, predicted, rule))) => view! {
            <p class="activations" data-testid="machine" data-state="done"
                data-delta=score.delta.to_string() data-predicted=predicted.to_string()>
                {format!(
                    "Machine: predicted accuracy {:.0} % ({rule}; Δ = {:.4}: the max query is {} the max references)",
                    100.0 * predicted,
                    score.delta,
                    if score.delta > 0.0 { "nearer" } else { "not nearer" },
                )}
            </p>
        }
        .into_any(),
    }
    }
}

/// The trial's score by `checks.encoder`, its predicted accuracy and the rule in words.
async fn machine(
    ctx: &Ctx,
    trial: &PlannedTrial,
) -> Result<(exemplar_core::mis::TrialScore, f64, String), String> {
    let paths = super::engine::trial_images(trial);
    machine_of(
        ctx,
        &paths,
        trial.min_references.len(),
        trial.max_references.len(),
    )
    .await
}

/// [`machine`] of images in [`super::engine::trial_images`] order, with `min_refs` and
/// `max_refs` references.
async fn machine_of(
    ctx: &Ctx,
    paths: &[String],
    min_refs: usize,
    max_refs: usize,
) -> Result<(exemplar_core::mis::TrialScore, f64, String), String> {
    use exemplar_core::mis::{self, Alpha};
    let encoder = ctx.exp.checks.encoder.as_ref().ok_or("no checks.encoder")?;
    let model = ctx
        .exp
        .checks
        .models
        .get(&encoder.model)
        .ok_or_else(|| format!("no model \"{}\" in checks.models", encoder.model))?;
    let url = super::browser::resolve_url(&format!("{}{}", ctx.base, model.file));
    let computed = super::engine::embeddings(
        ctx.engine,
        &url,
        model,
        &encoder.output,
        paths,
        super::engine::Backend::Any,
    )
    .await?;
    let score =
        mis::score_ordered(&computed.activations, min_refs, max_refs).map_err(|e| e.to_string())?;
    let (alpha, rule) = match encoder.alpha {
        Some(a) => (Alpha::Value(a), format!("σ({a}·Δ)")),
        None => (Alpha::None, "no α: 1 when Δ > 0".to_string()),
    };
    Ok((score, mis::predicted(score.delta, alpha), rule))
}

/// Min references (blue) and max references (orange) on one axis, the two queries as
/// taller marks of their side's colour.
fn plot(a: &exemplar_core::checks::TrialActivations) -> impl IntoView {
    let all: Vec<f32> = a
        .min_references
        .iter()
        .chain(&a.max_references)
        .copied()
        .chain([a.min_query, a.max_query])
        .collect();
    let lo = all.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = all.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let x = move |v: f32| 20.0 + 560.0 * ((v - lo) / span) as f64;
    let dots = |vals: &[f32], y: f64, color: &'static str| {
        vals.iter().map(|&v| view! { <circle cx=x(v) cy=y r="5" fill=color fill-opacity="0.75"><title>{format!("{v:.4}")}</title></circle> }).collect_view()
    };
    let query = |v: f32, color: &'static str, label: &'static str| {
        view! {
            <line x1=x(v) x2=x(v) y1="8" y2="62" stroke=color stroke-width="3"><title>{format!("{label}: {v:.4}")}</title></line>
            <text x=x(v) y="76" fill=color font-size="11" text-anchor="middle">{label}</text>
        }
    };
    view! {
        <svg class="activation-plot" viewBox="0 0 600 84" width="600" height="84" role="img"
            aria-label="Activations: min references, max references and the two queries">
            <line x1="20" x2="580" y1="35" y2="35" stroke="#ccc"/>
            {dots(&a.min_references, 28.0, "#4aa3ff")}
            {dots(&a.max_references, 42.0, "#ff9f1a")}
            {query(a.min_query, "#4aa3ff", "min query")}
            {query(a.max_query, "#ff9f1a", "max query")}
            <text x="20" y="10" fill="#ddd" font-size="10">{format!("{lo:.3}")}</text>
            <text x="580" y="10" fill="#ddd" font-size="10" text-anchor="end">{format!("{hi:.3}")}</text>
        </svg>
    }
}

/// One checked batch.
#[derive(Clone)]
struct Checked {
    unit: String,
    batch: u32,
    outcome: Result<Vec<exemplar_core::checks::Violation>, String>,
    /// With bounds in `checks.encoder` and the batch's images loaded: the machine's
    /// predicted accuracy and the bound it falls outside of, if any (images that did not
    /// load are the outcome's error only).
    machine: Option<Result<(f64, Option<exemplar_core::mis::Difficulty>), String>>,
}

impl Checked {
    /// What is wrong with the batch, in words (empty when nothing is).
    fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.outcome {
            Ok(v) => v.iter().map(|v| v.describe().to_string()).collect(),
            Err(e) => vec![e.clone()],
        };
        match &self.machine {
            Some(Ok((p, Some(d)))) => out.push(format!(
                "{} (predicted accuracy {:.1} %)",
                d.describe(),
                100.0 * p
            )),
            Some(Err(e)) => out.push(format!("the machine's answer could not be computed: {e}")),
            _ => {}
        }
        out
    }
}

/// "Check all": every batch of every unit with a model, checked with the engine.
#[component]
fn CheckAll(ctx: Ctx) -> impl IntoView {
    let results = RwSignal::new(Vec::<Checked>::new());
    let running = RwSignal::new(false);
    // The machine's check (bounds in checks.encoder) covers every unit, with a check model
    // or not; the activations only units with one.
    let bounds = ctx.exp.checks.encoder.as_ref().and_then(|e| {
        (e.min_predicted.is_some() || e.max_predicted.is_some())
            .then_some((e.min_predicted, e.max_predicted))
    });
    let checked = move |exp: &Experiment, u: &exemplar_core::experiment::Unit| {
        bounds.is_some() || exp.checks.models.contains_key(&u.model)
    };
    let total = ctx
        .exp
        .unit_groups()
        .iter()
        .flat_map(|(_, us)| us.iter())
        .filter(|u| checked(&ctx.exp, u))
        .map(|u| u.batches.len())
        .sum::<usize>();
    let run = {
        let ctx = ctx.clone();
        move |_| {
            if running.get_untracked() {
                return;
            }
            running.set(true);
            results.set(Vec::new());
            let ctx = ctx.clone();
            leptos::task::spawn_local(async move {
                for (_, units) in ctx.exp.unit_groups() {
                    for unit in units.iter().filter(|u| checked(&ctx.exp, u)) {
                        for batch in &unit.batches {
                            let files = super::engine::batch_images(&ctx.exp.batch_files(batch));
                            let failed = ctx
                                .images
                                .load_all(
                                    &ctx.base,
                                    files.iter().map(String::as_str),
                                    ctx.exp.loading.attempts,
                                )
                                .await;
                            let unit_ref = exemplar_core::plan::UnitRef {
                                unit_id: unit.id.clone(),
                                model: unit.model.clone(),
                                layer: unit.layer.clone(),
                                channel: unit.channel,
                                batch: batch.batch,
                                mode: unit.mode,
                            };
                            let outcome = if !failed.is_empty() {
                                Err(format!("images not loaded: {}", failed.join("; ")))
                            } else if !ctx.exp.checks.models.contains_key(&unit.model) {
                                // Only the machine checks it.
                                Ok(Vec::new())
                            } else {
                                match compute(&ctx, &unit_ref, &files).await {
                                    Some(Ok((values, _))) => super::engine::split(&values, 9, 9)
                                        .map(|a| exemplar_core::checks::check(&a))
                                        .ok_or_else(|| "wrong number of values".to_string()),
                                    Some(Err(e)) => Err(e),
                                    None => Err("no model".into()),
                                }
                            };
                            let machine = match bounds {
                                // Images that did not load are the outcome's problem, said
                                // once: the machine has nothing to compute.
                                None => None,
                                Some(_) if !failed.is_empty() => None,
                                Some((lo, hi)) => {
                                    Some(machine_of(&ctx, &files, 9, 9).await.map(|(_, p, _)| {
                                        (p, exemplar_core::mis::difficulty(p, lo, hi))
                                    }))
                                }
                            };
                            if results
                                .try_update(|r| {
                                    r.push(Checked {
                                        unit: unit.id.clone(),
                                        batch: batch.batch,
                                        outcome,
                                        machine,
                                    })
                                })
                                .is_none()
                            {
                                return;
                            }
                        }
                    }
                }
                running.try_set(false);
            });
        }
    };
    let failures = move || results.with(|r| r.iter().filter(|c| !c.problems().is_empty()).count());
    view! {
        <div class="check-all">
            <button data-testid="check-all" disabled=move || running.get() || total == 0 on:click=run>
                {format!("Check all {total} batches")}
            </button>
            <span data-testid="check-all-status" data-done=move || (!running.get() && results.with(|r| r.len()) == total).to_string()
                data-failures=move || failures().to_string()>
                {move || {
                    let n = results.with(|r| r.len());
                    if total == 0 { "no unit has a model in checks.models".to_string() }
                    else if n == 0 && !running.get() { String::new() }
                    else { format!(" {n} of {total} checked, {} failing", failures()) }
                }}
            </span>
            <ul class="check-failures">
                {move || results.get().into_iter().filter(|c| !c.problems().is_empty()).map(|c| {
                    let why = c.problems().join("; ");
                    let difficulty = match &c.machine {
                        Some(Ok((_, Some(d)))) => d.describe(),
                        _ => "",
                    };
                    view! { <li data-testid="check-failure" data-unit=c.unit.clone() data-batch=c.batch.to_string()
                        data-difficulty=difficulty>{format!("{} batch {}: {why}", c.unit, c.batch)}</li> }
                }).collect_view()}
            </ul>
        </div>
    }
}
