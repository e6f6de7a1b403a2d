//! The pages of a session around the trials: welcome, consent, instructions, fullscreen,
//! practice and main introductions, feedback and the end page.

use exemplar_core::experiment::Collect;
use exemplar_core::record::Body;
use exemplar_core::score::Stage;
use exemplar_core::texts::{fill, T};
use exemplar_core::untrusted;

use super::text;
use leptos::prelude::*;

use super::browser;
use super::delivery;
use super::session::{Ctx, Delivery, Mode};
use super::trial::{Overlay, TrialStage};

/// The session: whichever page its saved progress is on. An embedding page (the
/// preview) may show an `overlay` over its trials.
#[component]
pub fn Session(ctx: Ctx, #[prop(optional)] overlay: Option<Overlay>) -> impl IntoView {
    if ctx.saved.with_untracked(|s| s.plan_changed) {
        return plan_changed(ctx);
    }
    // A trial answered just before a reload is not shown again.
    if ctx.saved.with_untracked(|s| s.progress.done) {
        ctx.finish_trial();
    }
    watch_fullscreen(&ctx);
    let stage = Memo::new(move |_| ctx.saved.with(|s| s.progress.stage.clone()));
    if let Some(r) = super::research() {
        (r.simulate)(&ctx, stage);
    }
    let (min_w, min_h) = (
        ctx.exp.display.min_width as f64,
        ctx.exp.display.min_height as f64,
    );
    let too_small = RwSignal::new(false);
    let check_size = move || {
        let (w, h, _) = browser::window_size();
        too_small.set(w < min_w || h < min_h);
    };
    check_size();
    let resize = window_event_listener(leptos::ev::resize, move |_| check_size());
    on_cleanup(move || resize.remove());

    let ctx2 = ctx.clone();
    let too_small_text = fill(
        ctx.exp.text(T::WindowTooSmall),
        &[
            ("width", &ctx.exp.display.min_width.to_string()),
            ("height", &ctx.exp.display.min_height.to_string()),
        ],
    );
    view! {
        <Show when=move || too_small.get() && stage.get().trial_position().is_some()>
            <div class="overlay" data-testid="window-too-small" role="alert">
                {too_small_text.clone()}
            </div>
        </Show>
        {move || page(ctx2.clone(), stage.get(), overlay.clone())}
        <DeliveryNotice ctx=ctx.clone() stage=stage/>
        <StorageNotice ctx=ctx.clone()/>
    }
    .into_any()
}

/// The experiment changed under this session (or its saved progress is damaged): it
/// stops here, with one `plan_changed` record; what is not yet sent is still sent.
fn plan_changed(ctx: Ctx) -> AnyView {
    let pending = {
        let ctx = ctx.clone();
        move || ctx.pending()
    };
    let held = {
        let ctx = ctx.clone();
        move || ctx.saved.with(|s| !s.rejected.is_empty()) || ctx.offer_download.get()
    };
    let download = {
        let ctx = ctx.clone();
        move |_| ctx.download_unsaved()
    };
    let exp = ctx.exp.clone();
    let t = move |t: T| exp.text(t).to_string();
    let status = {
        let t = t.clone();
        move || match pending() {
            0 => t(T::SavedSoFar),
            n => fill(&t(T::SavingSoFar), &[("n", &n.to_string())]),
        }
    };
    let download_label = t(T::DownloadData);
    view! {
        <main class="page" data-testid="plan-changed">
            <h1>{t(T::PlanChangedTitle)}</h1>
            <p class="text">{t(T::PlanChangedText)}</p>
            <p class="status" data-testid="plan-changed-status">{status}</p>
            {move || held().then(|| view! {
                <button class="primary" data-testid="download-data" on:click=download.clone()>{download_label.clone()}</button>
            })}
        </main>
        <StorageNotice ctx=ctx.clone()/>
    }
    .into_any()
}

/// Storage failed (full, or disabled): stays on screen until the page is closed. The
/// records are on this page only; they are sent as usual and offered as a file.
#[component]
fn StorageNotice(ctx: Ctx) -> impl IntoView {
    let failed = ctx.storage_failed;
    let (warning, label) = (
        ctx.exp.text(T::StorageFailed).to_string(),
        ctx.exp.text(T::DownloadData).to_string(),
    );
    let download = move |_| ctx.download_unsaved();
    move || {
        failed.get().then(|| {
            let download = download.clone();
            view! {
                <div class="delivery-notice storage-notice" data-testid="storage-warning" role="alert">
                    <p>{warning.clone()}</p>
                    <button data-testid="storage-download" on:click=download>{label.clone()}</button>
                </div>
            }
        })
    }
}

/// A quiet line at the bottom while records wait for a failing endpoint (the end page
/// says more). The answers are safe in the browser meanwhile.
#[component]
fn DeliveryNotice(ctx: Ctx, stage: Memo<Stage>) -> impl IntoView {
    let delivery = ctx.delivery;
    let waiting = ctx.exp.text(T::DeliveryWaiting).to_string();
    move || match delivery.get() {
        Delivery::Failed(reason) if stage.get() != Stage::End => Some(view! {
            <p class="delivery-notice" data-testid="delivery-warning" role="status">
                {fill(&waiting, &[("reason", &reason)])}
            </p>
        }),
        _ => None,
    }
}

fn page(ctx: Ctx, stage: Stage, overlay: Option<Overlay>) -> AnyView {
    let exp = ctx.exp.clone();
    let next = {
        let ctx = ctx.clone();
        move |_| ctx.advance()
    };
    match stage {
        Stage::Welcome => text_page(
            &ctx,
            &exp.pages.welcome,
            exp.text(T::Continue),
            "welcome-continue",
            next,
        ),
        Stage::Consent => {
            let ctx2 = ctx.clone();
            text_page(
                &ctx,
                &exp.pages.consent,
                exp.text(T::Agree),
                "consent-accept",
                move |_| {
                    ctx2.emit(Body::ConsentGiven, |s| enter_instructions(s, &ctx2));
                },
            )
        }
        Stage::Instructions { page } => instructions(ctx, page),
        Stage::Fullscreen => text_page(
            &ctx,
            exp.text(T::FullscreenPage),
            exp.text(T::FullscreenButton),
            "fullscreen-continue",
            move |e| {
                browser::request_fullscreen();
                next(e)
            },
        ),
        Stage::BlockIntro { block, page } => {
            let pages = ctx
                .plan
                .blocks
                .get(block as usize)
                .map(|b| exp.condition_of(b).instructions.clone())
                .unwrap_or_default();
            let Some(text) = pages.get(page as usize) else {
                return out_of_plan(&exp);
            };
            text_page(&ctx, text, exp.text(T::Next), "block-next", next)
        }
        Stage::PracticeIntro { attempt, .. } => {
            let text = if attempt == 0 {
                &exp.pages.practice_intro
            } else {
                &exp.pages.practice_retry
            };
            text_page(&ctx, text, exp.text(T::Start), "practice-start", next)
        }
        Stage::MainIntro { .. } => text_page(
            &ctx,
            &exp.pages.main_intro,
            exp.text(T::Start),
            "main-start",
            next,
        ),
        Stage::Practice { .. } => {
            // Saved progress was checked against the plan on load (`Progress::fits`).
            let Some(trial) = ctx.plan.trial(&stage).cloned() else {
                return out_of_plan(&exp);
            };
            view! { <TrialStage ctx=ctx trial=trial stage=stage overlay=overlay/> }.into_any()
        }
        Stage::Main { block, index } => {
            let position = ctx.plan.main_position(block, index);
            let Some(trial) = ctx
                .saved
                .with_untracked(|s| s.replacements.get(&position).cloned())
                .or_else(|| ctx.plan.trial(&stage).cloned())
            else {
                return out_of_plan(&exp);
            };
            view! { <TrialStage ctx=ctx trial=trial stage=stage overlay=overlay/> }.into_any()
        }
        Stage::Feedback => feedback(ctx),
        Stage::End => end(ctx),
    }
}

/// A page index outside the plan (cannot happen after the checks on load): a clear
/// page instead of a panic.
fn out_of_plan(exp: &exemplar_core::Experiment) -> AnyView {
    view! {
        <main class="page error" data-testid="experiment-error">
            <h1>{exp.text(T::CannotContinueTitle).to_string()}</h1>
            <p>{exp.text(T::CannotContinueText).to_string()}</p>
        </main>
    }
    .into_any()
}

fn text_page(
    ctx: &Ctx,
    markdown_text: &str,
    label: &str,
    testid: &'static str,
    on_click: impl FnMut(leptos::ev::MouseEvent) + 'static,
) -> AnyView {
    let html = text::html(markdown_text, &ctx.base);
    let label = label.to_string();
    view! {
        <main class="page">
            <article class="text" inner_html=html></article>
            <div class="actions">
                <button class="primary" data-testid=testid autofocus on:click=on_click>{label}</button>
            </div>
        </main>
    }
    .into_any()
}

fn instructions(ctx: Ctx, page: u32) -> AnyView {
    let pages = &ctx.exp.pages.instructions;
    let Some(text) = pages.get(page as usize) else {
        return out_of_plan(&ctx.exp);
    };
    let html = text::html(text, &ctx.base);
    let last = page as usize + 1 == pages.len();
    let count = pages.len();
    let exp = ctx.exp.clone();
    let count_text = fill(
        exp.text(T::InstructionsCount),
        &[
            ("page", &(page + 1).to_string()),
            ("pages", &count.to_string()),
        ],
    );
    let (back_label, next_label) = (
        exp.text(T::Back).to_string(),
        exp.text(if last { T::Start } else { T::Next }).to_string(),
    );
    let (back_ctx, next_ctx) = (ctx.clone(), ctx.clone());
    let back = move |_| {
        back_ctx.commit(|s| {
            s.progress.back();
            if let Stage::Instructions { page } = s.progress.stage {
                s.pages_visited.push(page);
            }
        })
    };
    let next = move |_| {
        if last {
            let started = next_ctx
                .saved
                .with_untracked(|s| s.instructions_started)
                .unwrap_or_else(browser::epoch_ms);
            let pages_visited = next_ctx.saved.with_untracked(|s| s.pages_visited.clone());
            let (exp, plan) = (next_ctx.exp.clone(), next_ctx.plan.clone());
            next_ctx.emit(
                Body::InstructionsDone {
                    instruction_time: browser::epoch_ms() - started,
                    pages_visited,
                },
                |s| s.progress.advance(&exp, &plan),
            );
        } else {
            next_ctx.commit(|s| {
                s.progress.advance(&next_ctx.exp, &next_ctx.plan);
                if let Stage::Instructions { page } = s.progress.stage {
                    s.pages_visited.push(page);
                }
            });
        }
    };
    view! {
        <main class="page">
            <p class="page-count">{count_text}</p>
            <article class="text" inner_html=html></article>
            <div class="actions">
                <button data-testid="instructions-back" disabled=page == 0 on:click=back>{back_label}</button>
                <button class="primary" data-testid="instructions-next" autofocus on:click=next>
                    {next_label}
                </button>
            </div>
        </main>
    }
    .into_any()
}

/// After consent: note when the instructions began (or skip past them).
fn enter_instructions(s: &mut super::session::Saved, ctx: &Ctx) {
    s.progress.advance(&ctx.exp, &ctx.plan);
    if let Stage::Instructions { page } = s.progress.stage {
        s.instructions_started = Some(browser::epoch_ms());
        s.pages_visited.push(page);
    }
}

fn feedback(ctx: Ctx) -> AnyView {
    let text = RwSignal::new(ctx.saved.with_untracked(|s| s.feedback_text.clone()));
    let prompt = ctx.exp.pages.feedback_prompt.clone();
    let submit_label = ctx.exp.text(T::Submit).to_string();
    let submit = move |_| {
        let t = text.get_untracked();
        ctx.emit(Body::Feedback { text: t.clone() }, |s| s.feedback_text = t);
        let body = ctx.saved.with_untracked(|s| Body::SessionCompleted {
            main_correct: s.progress.main_correct_without_catch(s.catch_correct),
            catch_correct: s.catch_correct,
            answered: ctx.plan.main_count() as u32,
            practice_rounds: s.practice_rounds,
            main_phase_time: s
                .main_last_response
                .zip(s.main_first_response)
                .map_or(0.0, |(l, f)| l - f),
        });
        let (exp, plan) = (ctx.exp.clone(), ctx.plan.clone());
        ctx.emit(body, |s| s.progress.advance(&exp, &plan));
    };
    view! {
        <main class="page">
            <label class="text" for="feedback">{prompt}</label>
            <textarea id="feedback" data-testid="feedback-text" rows="6" maxlength="5000"
                prop:value=move || text.get() on:input=move |e| text.set(event_target_value(&e))></textarea>
            <div class="actions">
                <button class="primary" data-testid="feedback-submit" on:click=submit>{submit_label}</button>
            </div>
        </main>
    }
    .into_any()
}

/// Where the end page stands (its `data-status`, which the browser tests read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndStatus {
    /// The download adapter: the data file is the delivery.
    Download,
    /// Records are still being sent.
    Saving,
    /// The endpoint refused some records.
    Rejected,
    /// Everything is saved, but the platform's return address was refused.
    NotReturned,
    /// Everything is saved.
    Saved,
}

impl EndStatus {
    fn as_str(self) -> &'static str {
        match self {
            EndStatus::Download => "download",
            EndStatus::Saving => "saving",
            EndStatus::Rejected => "rejected",
            EndStatus::NotReturned => "not_returned",
            EndStatus::Saved => "saved",
        }
    }
}

fn end(ctx: Ctx) -> AnyView {
    ctx.flush();
    let html = text::html(&ctx.exp.pages.end, &ctx.base);
    let code = ctx.exp.completion.code.clone();
    let offline_kind = !ctx.posts();
    let status = {
        let ctx = ctx.clone();
        Memo::new(move |_| {
            let (pending, rejected, not_returned) = ctx.saved.with(|s| {
                (
                    s.outbox.len(),
                    !s.rejected.is_empty(),
                    s.handover_refused.is_some(),
                )
            });
            if offline_kind {
                EndStatus::Download
            } else if pending > 0 {
                EndStatus::Saving
            } else if rejected {
                EndStatus::Rejected
            } else if not_returned {
                EndStatus::NotReturned
            } else {
                EndStatus::Saved
            }
        })
    };
    {
        let ctx = ctx.clone();
        Effect::new(move |handed_over: Option<bool>| {
            if handed_over == Some(true)
                || status.get() != EndStatus::Saved
                || ctx.mode != Mode::Participant
            {
                return handed_over.unwrap_or(false);
            }
            hand_over(&ctx);
            true
        });
    }
    let (delivery, offer) = (ctx.delivery, ctx.offer_download);
    let download = {
        let ctx = ctx.clone();
        move |_| ctx.download_unsaved()
    };
    let exp = ctx.exp.clone();
    let t = move |t: T| exp.text(t).to_string();
    let download_label = t(T::DownloadData);
    let download_button = move |why: String| {
        let download = download.clone();
        view! {
            <p class="text">{why}</p>
            <button class="primary" data-testid="download-data" on:click=download>{download_label.clone()}</button>
        }
    };
    let pending = {
        let ctx = ctx.clone();
        move || ctx.pending()
    };
    let reason = {
        let ctx = ctx.clone();
        move || {
            ctx.saved
                .with(|s| s.rejected_reason.clone().unwrap_or_default())
        }
    };
    view! {
        <main class="page">
            <div data-testid="end" data-status=move || status.get().as_str() aria-live="polite">
                {move || {
                    let (download_button, pending, t) = (download_button.clone(), pending.clone(), t.clone());
                    match status.get() {
                    EndStatus::Saving => {
                        let (saving, not_saved, unreachable) = (t(T::SavingResponses), t(T::NotSavedYet), t(T::Unreachable));
                        view! {
                        <p class="status">{move || fill(&saving, &[("n", &pending().to_string())])}</p>
                        <p class="hint">{t(T::KeepOpen)}</p>
                        {move || match delivery.get() {
                            Delivery::Failed(e) => Some(view! { <p class="warning">{fill(&not_saved, &[("reason", &e)])}</p> }),
                            _ => None,
                        }}
                        {move || offer.get().then(|| download_button(unreachable.clone()))}
                    }.into_any()
                    }
                    other => view! {
                        <article class="text" inner_html=html.clone()></article>
                        {code.clone().map(|c| view! { <p class="code">{t(T::CompletionCode)}<strong>{c}</strong></p> })}
                        {(other == EndStatus::Rejected).then(|| view! {
                            <p class="warning">{fill(&t(T::Refused), &[("reason", &reason())])}</p>
                        })}
                        {(other == EndStatus::NotReturned).then(|| view! {
                            <p class="warning" data-testid="not-returned">{t(T::NotReturned)}</p>
                        })}
                        {(other != EndStatus::Saved).then(|| download_button(t(T::PleaseDownload)))}
                    }.into_any(),
                }}}
            </div>
        </main>
    }
    .into_any()
}

/// Once every record is saved: hand the participant back to the platform.
fn hand_over(ctx: &Ctx) {
    let code = ctx.exp.completion.code.clone().unwrap_or_default();
    let redirect = ctx
        .exp
        .completion
        .redirect_url
        .as_ref()
        .map(|u| u.replace("{code}", &code));
    let location = browser::window().location();
    match &ctx.exp.collect {
        Collect::Prolific { .. } => {
            let url = redirect.unwrap_or_else(|| {
                format!("https://app.prolific.com/submissions/complete?cc={code}")
            });
            let _ = location.set_href(&url);
        }
        Collect::Mturk { .. } => {
            // Only MTurk's own origins (the constant, never the URL's text); a refused
            // `turkSubmitTo` was recorded at the start and the end page offers the data.
            let to = match browser::query_param("turkSubmitTo") {
                None => Ok(untrusted::MTURK_ORIGINS[0]),
                Some(v) => untrusted::mturk_submit_origin(&v),
            };
            if let Ok(origin) = to {
                let assignment = browser::query_param("assignmentId").unwrap_or_default();
                let session = ctx.saved.with_untracked(|s| s.session_id.clone());
                delivery::submit_mturk(origin, &assignment, &session);
            }
        }
        Collect::Jatos {} => {
            // /publix/<study result>/<component>/… → /publix/<study result>/end
            let _ = location.set_href(&browser::resolve_url("../end?successful=true"));
        }
        _ => {
            if let Some(url) = redirect {
                let _ = location.set_href(&url);
            }
        }
    }
}

/// Records fullscreen changes during the session.
fn watch_fullscreen(ctx: &Ctx) {
    let ctx = ctx.clone();
    let handle = window_event_listener(
        leptos::ev::Custom::<leptos::ev::Event>::new("fullscreenchange"),
        move |_| {
            ctx.emit(
                Body::Fullscreen {
                    active: browser::is_fullscreen(),
                },
                |_| {},
            );
        },
    );
    on_cleanup(move || handle.remove());
}
