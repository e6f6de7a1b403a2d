//! One forced-choice trial, as in the paradigm: 3×3 min references left, 3×3 max
//! references right, two queries in the centre with a row of confidence buttons each.
//!
//! Sequence: images loaded and decoded → inserted → the next animation frame's timestamp
//! is the onset → buttons unlock after `initial_wait_ms` → a click (or number key) frames
//! the chosen query black and locks the buttons → after `feedback_delay_ms` the frame
//! turns green or red with "Correct!"/"Incorrect!" → after `feedback_duration_ms`
//! Continue appears. The record is saved at the response, before any feedback.

use std::sync::Arc;
use std::time::Duration;

use exemplar_core::plan::PlannedTrial;
use exemplar_core::record::{Body, Input, OnsetSource, TrialRecord};
use exemplar_core::score::{self, Stage};
use exemplar_core::texts::{fill, T};
use leptos::html;
use leptos::prelude::*;

use super::browser;
use super::session::Ctx;

/// What a page that embeds the session shows over its trials when it is on: a panel
/// above the trial (given the trial) and each image's file under it. The trial knows
/// nothing else about the page that passes it.
#[derive(Clone)]
pub struct Overlay {
    /// Whether the overlay is on now.
    pub shown: Signal<bool>,
    /// The panel above a trial.
    pub panel: Arc<dyn Fn(PlannedTrial) -> AnyView + Send + Sync>,
}

/// A trial page: loads the trial's images, then shows it (or skips it if they fail).
#[component]
pub fn TrialStage(
    ctx: Ctx,
    trial: PlannedTrial,
    stage: Stage,
    overlay: Option<Overlay>,
) -> impl IntoView {
    let (attempt, index) = stage.trial_position().unwrap_or_default();
    let ready = RwSignal::new(false);
    {
        let (ctx, trial) = (ctx.clone(), trial.clone());
        leptos::task::spawn_local(async move {
            let failed = ctx
                .images
                .load_all(&ctx.base, trial.images(), ctx.exp.loading.attempts)
                .await;
            if failed.is_empty() {
                super::live_check::start(&ctx, &trial);
                ready.try_set(true);
                preload_next(&ctx);
            } else {
                ctx.emit(
                    Body::TrialSkipped {
                        phase: trial.phase,
                        trial_index: index,
                        attempt,
                        unit_id: trial.unit.unit_id.clone(),
                        batch: trial.unit.batch,
                        failed_images: failed,
                    },
                    |s| s.progress.skip(),
                );
                ctx.finish_trial();
            }
        });
    }
    let loading = ctx.exp.text(T::Loading).to_string();
    move || {
        if ready.get() {
            view! { <TrialView ctx=ctx.clone() trial=trial.clone() stage=stage.clone() overlay=overlay.clone()/> }
                .into_any()
        } else {
            view! { <main class="page"><p class="status" data-testid="loading">{loading.clone()}</p></main> }.into_any()
        }
    }
}

/// Loads the next trials of the session in the background.
fn preload_next(ctx: &Ctx) {
    let ahead = ctx.exp.loading.preload_ahead as usize;
    let stage = ctx.saved.with_untracked(|s| s.progress.stage.clone());
    let trials: Vec<PlannedTrial> = ctx
        .plan
        .upcoming(&stage, ahead)
        .into_iter()
        .cloned()
        .collect();
    if trials.is_empty() {
        return;
    }
    let ctx = ctx.clone();
    leptos::task::spawn_local(async move {
        let upcoming: Vec<&str> = trials.iter().flat_map(|t| t.images()).collect();
        ctx.images
            .load_all(&ctx.base, upcoming, ctx.exp.loading.attempts)
            .await;
        // A trial's check starts once its queries are in (one that failed is skipped later).
        for t in &trials {
            if [&t.min_query, &t.max_query]
                .iter()
                .all(|q| ctx.images.url(q).is_some())
            {
                super::live_check::start(&ctx, t);
            }
        }
    });
}

#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// Painted; buttons locked for the initial wait.
    Waiting,
    /// Buttons enabled.
    Open,
    /// Answered (upper?): black frame.
    Chosen(bool),
    /// Feedback shown (upper?, correct?).
    Feedback(bool, bool),
    /// Continue shown.
    Done(bool, bool),
}

#[component]
fn TrialView(
    ctx: Ctx,
    trial: PlannedTrial,
    stage: Stage,
    overlay: Option<Overlay>,
) -> impl IntoView {
    let index = stage.trial_position().map_or(0, |(_, i)| i);
    let total = ctx.plan.block(&stage).map_or(0, |b| b.main.len());
    let exp = ctx.exp.clone();
    let levels = exp.confidence_levels;
    let timing = exp.timing.clone();
    let show_feedback = timing.feedback || !trial.phase.in_main_block();
    let step = RwSignal::new(Step::Waiting);
    let inserted_at = StoredValue::new(browser::now());
    let onset = StoredValue::new(f64::NAN);
    let focus_losses = StoredValue::new(0u32);
    let visibility_losses = StoredValue::new(0u32);
    let continue_ref = NodeRef::<html::Button>::new();

    // The onset is when the inserted images were painted: the browser's own report of the
    // paint (Element Timing) where it gives one, else the frame that paints them. The
    // initial wait runs from the onset.
    let onset_source = StoredValue::new(OnsetSource::AnimationFrame);
    let upper_ref = NodeRef::<html::Img>::new();
    let lower_ref = NodeRef::<html::Img>::new();
    let paint_watch = StoredValue::new_local(None::<browser::PaintWatch>);
    Effect::new(move |_| {
        inserted_at.set_value(browser::now());
        let queries: Vec<web_sys::Element> = [upper_ref, lower_ref]
            .into_iter()
            .filter_map(|r| r.get_untracked().map(Into::into))
            .collect();
        let watch = browser::on_painted(queries, move |painted| {
            // Once answered, the record is written: the onset it used stays.
            if matches!(step.try_get_untracked(), Some(Step::Waiting | Step::Open)) {
                onset.set_value(painted.max(inserted_at.get_value()));
                onset_source.set_value(OnsetSource::ElementTiming);
            }
        });
        paint_watch.set_value(watch);
        browser::next_frame(move |t| {
            // A frame's timestamp is when the frame began, which can be just before the
            // images were inserted into it; they cannot be painted before insertion.
            if onset_source.get_value() == OnsetSource::AnimationFrame {
                onset.set_value(t.max(inserted_at.get_value()));
            }
            if let Some(p) = browser::window().performance() {
                let _ = p.mark("exemplar:trial-painted");
            }
            open_after_wait(step, onset, timing.initial_wait_ms as f64);
        });
    });

    let respond = {
        let (ctx, trial) = (ctx.clone(), trial.clone());
        move |button: u32, input: Input, event_time: f64| {
            if step.get_untracked() != Step::Open {
                return;
            }
            let Some(answer) = score::answer(button, levels, trial.switched_queries) else {
                return;
            };
            step.set(Step::Chosen(answer.upper));
            let (w, h, dpr) = browser::window_size();
            let mut record = TrialRecord::from_plan(&ctx.plan, &stage, &trial, &answer, input);
            record.onset = onset.get_value();
            record.onset_source = onset_source.get_value();
            record.rt = event_time - record.onset;
            record.rt_dom = event_time - inserted_at.get_value();
            record.window_width = w;
            record.window_height = h;
            record.device_pixel_ratio = dpr;
            record.focus_losses = focus_losses.get_value();
            record.visibility_losses = visibility_losses.get_value();
            record.fullscreen = browser::is_fullscreen();
            record.check = super::live_check::outcome(&ctx, &trial);
            record.replaced = super::live_check::replaced(&ctx, &trial, &stage);
            let (phase, correct) = (trial.phase, answer.correct);
            ctx.emit(Body::Trial(Box::new(record)), move |s| {
                s.count_answer(phase, correct, browser::epoch_ms())
            });
            let delay = Duration::from_millis(timing.feedback_delay_ms as u64);
            let duration = if show_feedback {
                Duration::from_millis(timing.feedback_duration_ms as u64)
            } else {
                Duration::ZERO
            };
            set_timeout(
                move || {
                    if show_feedback {
                        step.try_set(Step::Feedback(answer.upper, correct));
                    }
                    set_timeout(
                        move || {
                            step.try_set(Step::Done(answer.upper, correct));
                            // The trial may be gone by now (the session was moved on elsewhere).
                            if let Some(b) = continue_ref.try_get_untracked().flatten() {
                                let _ = b.focus();
                            }
                        },
                        duration,
                    );
                },
                delay,
            );
        }
    };

    let keys = {
        let respond = respond.clone();
        window_event_listener(leptos::ev::keydown, move |e| {
            if e.repeat() {
                return;
            }
            if let Some(d) = e.key().chars().next().and_then(|c| c.to_digit(10)) {
                if e.key().len() == 1 && d >= 1 && d <= 2 * levels as u32 {
                    respond(d - 1, Input::Key, e.time_stamp());
                }
            }
        })
    };
    let blur = window_event_listener(leptos::ev::blur, move |_| {
        focus_losses.update_value(|n| *n += 1)
    });
    let hidden = window_event_listener(leptos::ev::visibilitychange, move |_| {
        if browser::window().document().is_some_and(|d| d.hidden()) {
            visibility_losses.update_value(|n| *n += 1);
        }
    });
    on_cleanup(move || {
        keys.remove();
        blur.remove();
        hidden.remove();
    });

    let images = ctx.images;
    let url = move |p: &str| images.url(p).unwrap_or_default();
    // The embedding page's overlay, if it passed one: its panel and each image's file.
    let shown = overlay.as_ref().map(|o| o.shown);
    let overlay_on = move || shown.is_some_and(|on| on.get());
    let caption = move |p: &str| {
        let p = p.to_string();
        // The batch folder and file name fit under a cell; the whole path is the title.
        let short = match p.rsplitn(3, '/').collect::<Vec<_>>()[..] {
            [file, batch, _] => format!("{batch}/{file}"),
            _ => p.clone(),
        };
        move || {
            overlay_on().then(|| view! {
                <span class="image-id" data-testid="image-id" data-path=p.clone() title=p.clone()>{short.clone()}</span>
            })
        }
    };
    let exp = ctx.exp.clone();
    let t = move |t: T| exp.text(t).to_string();
    let grid = |side: T, refs: &[String]| {
        let alt = t(side);
        refs.iter()
            .enumerate()
            .map(|(i, p)| view! {
                <div class="cell">
                    <img src=url(p) alt=fill(&alt, &[("n", &(i + 1).to_string())]) width="224" height="224" draggable="false"/>
                    {caption(p)}
                </div>
            })
            .collect_view()
    };
    let key = {
        let (panel, trial) = (overlay.map(|o| o.panel), trial.clone());
        move || {
            let panel = panel.as_ref().filter(|_| overlay_on())?;
            Some(panel(trial.clone()))
        }
    };
    let query_class = move |upper: bool| {
        move || match step.get() {
            Step::Chosen(u) if u == upper => "query chosen",
            Step::Feedback(u, c) | Step::Done(u, c) if u == upper => {
                if c {
                    "query correct"
                } else {
                    "query incorrect"
                }
            }
            _ => "query",
        }
    };
    let buttons = {
        let (respond, t) = (respond.clone(), t.clone());
        move |upper: bool| {
            let row = if upper { "upper" } else { "lower" };
            let (label, group, hint) = if upper {
                (
                    t(T::UpperConfidence),
                    t(T::ChooseUpper),
                    t(T::MoreConfident),
                )
            } else {
                (
                    t(T::LowerConfidence),
                    t(T::ChooseLower),
                    t(T::MoreConfident),
                )
            };
            let respond = respond.clone();
            let buttons = (1..=levels as u32)
                .map(|c| {
                    let respond = respond.clone();
                    let button = if upper { c - 1 } else { levels as u32 + c - 1 };
                    view! {
                        <button class="choice" data-testid=format!("choice-{row}-{c}")
                            aria-label=fill(&label, &[("level", &c.to_string()), ("levels", &levels.to_string())])
                            disabled=move || step.get() != Step::Open
                            on:click=move |e| respond(button, if e.is_trusted() { Input::Click } else { Input::Simulated }, e.time_stamp())>{c.to_string()}</button>
                    }
                })
                .collect_view();
            view! {
                <div class="choices" role="group" aria-label=group>
                    {buttons}
                    <span class="confidence-hint" aria-hidden="true">{hint}</span>
                </div>
            }
        }
    };
    // The condition's layout follows from the references the plan gives each side: none
    // (only the queries), max only (the left side stays empty, at its width), or both; a
    // grid is as wide as the square root of its count.
    let shown = trial.min_references.len().max(trial.max_references.len());
    let no_references = shown == 0;
    let max_only = trial.min_references.is_empty() && !no_references;
    let layout = if no_references {
        "none"
    } else if max_only {
        "max_only"
    } else {
        "min_max"
    };
    let cols = (1..=shown).find(|c| c * c >= shown).unwrap_or(1);
    let continue_ctx = ctx.clone();
    let verdicts = (t(T::Correct), t(T::Incorrect));
    let main_block = trial.phase.in_main_block();
    let correct_count = Memo::new(move |_| ctx.saved.with(|s| s.progress.main_correct));
    let phase = serde_json::to_value(trial.phase)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();

    view! {
        <main class="trial" data-testid="trial" data-trial-index=index.to_string() data-phase=phase>
            <header class="trial-header">
                {main_block.then(|| view! {
                    <span class="counter">{t(T::CorrectAnswers)}{move || correct_count.get()}</span>
                    <progress data-testid="progress" max=total.to_string() value=(index + 1).to_string()
                        aria-label=fill(&t(T::TaskCount), &[("task", &(index + 1).to_string()), ("tasks", &total.to_string())])></progress>
                })}
            </header>
            {key}
            <p class="prompt">{t(T::Prompt)}</p>
            <div class=format!("board cols-{cols}") data-layout=layout>
                {(!no_references).then(|| view! {
                    <section class="refs" aria-hidden=max_only.then_some("true")>
                        {(!max_only).then(|| view! { <h2>{t(T::LeftExamples)}</h2> })}
                        <div class="grid">{grid(T::LeftExample, &trial.min_references)}</div>
                    </section>
                })}
                <section class="center">
                    <div class="cell">
                        <img class=query_class(true) data-testid="query-upper" node_ref=upper_ref elementtiming="query" src=url(trial.upper_query()) alt=t(T::UpperImage) width="224" height="224" draggable="false"/>
                        {caption(trial.upper_query())}
                    </div>
                    {buttons(true)}
                    <div class="outcome" aria-live="polite">
                        {move || match step.get() {
                            Step::Feedback(_, c) | Step::Done(_, c) => Some(view! {
                                <p class=if c { "verdict correct" } else { "verdict incorrect" } data-testid="verdict">{if c { verdicts.0.clone() } else { verdicts.1.clone() }}</p>
                            }),
                            _ => None,
                        }}
                        <button class="primary" data-testid="continue" node_ref=continue_ref
                            style:visibility=move || if matches!(step.get(), Step::Done(..)) { "visible" } else { "hidden" }
                            disabled=move || !matches!(step.get(), Step::Done(..))
                            on:click=move |_| continue_ctx.finish_trial()>{t(T::Continue)}</button>
                    </div>
                    {buttons(false)}
                    <div class="cell">
                        <img class=query_class(false) data-testid="query-lower" node_ref=lower_ref elementtiming="query" src=url(trial.lower_query()) alt=t(T::LowerImage) width="224" height="224" draggable="false"/>
                        {caption(trial.lower_query())}
                    </div>
                </section>
                {(!no_references).then(|| view! {
                    <section class="refs">
                        <h2>{t(T::RightExamples)}</h2>
                        <div class="grid">{grid(T::RightExample, &trial.max_references)}</div>
                    </section>
                })}
            </div>
        </main>
    }
}

/// Opens the answer buttons `wait_ms` after the onset. The onset can move later once the
/// browser reports the paint, so the timer checks it again when it fires.
fn open_after_wait(step: RwSignal<Step>, onset: StoredValue<f64>, wait_ms: f64) {
    // The trial may be gone by now (the session was moved on elsewhere).
    let Some(onset_at) = onset.try_get_value() else {
        return;
    };
    let remaining = onset_at + wait_ms - browser::now();
    if remaining >= 1.0 {
        set_timeout(
            move || open_after_wait(step, onset, wait_ms),
            Duration::from_micros((remaining * 1000.0) as u64),
        );
    } else if step.try_get_untracked() == Some(Step::Waiting) {
        step.try_set(Step::Open);
    }
}
