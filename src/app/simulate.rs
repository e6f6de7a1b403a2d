//! `?simulate=P`: a simulated participant ([`exemplar_core::simulate::Participant`])
//! drives a real session through the page itself, pressing the same buttons a person
//! would, so the records come out of the same code as a participant's. Its clicks are
//! untrusted events, which the trial records as input `"simulated"`.

use exemplar_core::markdown;
use exemplar_core::score::Stage;
use exemplar_core::simulate::Participant;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::browser;
use super::session::{Ctx, Mode};

/// Starts answering whatever page the session is on, page after page.
pub fn drive(ctx: &Ctx, stage: Memo<Stage>) {
    let Mode::Simulate {
        p_correct, speed, ..
    } = ctx.mode
    else {
        return;
    };
    let seed = ctx.plan.seed;
    let participant =
        StoredValue::new(Participant::new(p_correct, seed).expect("checked in Mode::from_url"));
    // Each stage change starts a new task; an older task stops at its next check.
    let generation = StoredValue::new(0u64);
    let ctx = ctx.clone();
    Effect::new(move |_| {
        let stage = stage.get();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        let current = move || generation.try_get_value() == Some(mine);
        let ctx = ctx.clone();
        leptos::task::spawn_local(async move {
            let wait = |ms: f64| browser::sleep((ms / speed).max(1.0) as u32);
            let read = |text: &str| {
                let words = markdown::render(text, "").split_whitespace().count();
                participant
                    .try_update_value(|p| p.reading_ms(words))
                    .unwrap_or(1000.0)
            };
            let pages = &ctx.exp.pages;
            let (text, button) = match &stage {
                Stage::Welcome => (pages.welcome.as_str(), "welcome-continue"),
                Stage::Consent => (pages.consent.as_str(), "consent-accept"),
                Stage::Instructions { page } => (
                    pages
                        .instructions
                        .get(*page as usize)
                        .map_or("", String::as_str),
                    "instructions-next",
                ),
                Stage::Fullscreen => ("", "fullscreen-continue"),
                Stage::BlockIntro { block, page } => (
                    ctx.plan
                        .blocks
                        .get(*block as usize)
                        .and_then(|b| ctx.exp.condition_of(b).instructions.get(*page as usize))
                        .map_or("", String::as_str),
                    "block-next",
                ),
                Stage::PracticeIntro { attempt: 0, .. } => {
                    (pages.practice_intro.as_str(), "practice-start")
                }
                Stage::PracticeIntro { .. } => (pages.practice_retry.as_str(), "practice-start"),
                Stage::MainIntro { .. } => (pages.main_intro.as_str(), "main-start"),
                Stage::Feedback => ("", "feedback-submit"),
                Stage::End => return,
                Stage::Practice { .. } | Stage::Main { .. } => {
                    let Some(trial) = ctx
                        .saved
                        .with_untracked(|s| s.progress.trial(&ctx.plan).cloned())
                    else {
                        return;
                    };
                    // Wait for the buttons to unlock, as a person would.
                    if !until_enabled("choice-upper-1", current).await {
                        return;
                    }
                    let Some(response) = participant
                        .try_update_value(|p| p.respond(&trial, ctx.exp.confidence_levels))
                    else {
                        return;
                    };
                    wait(response.rt_ms).await;
                    let levels = ctx.exp.confidence_levels as u32;
                    let (row, level) = if response.button < levels {
                        ("upper", response.button + 1)
                    } else {
                        ("lower", response.button - levels + 1)
                    };
                    if !current() || !click(&format!("choice-{row}-{level}")) {
                        return;
                    }
                    if until_enabled("continue", current).await {
                        wait(400.0).await;
                        if current() {
                            click("continue");
                        }
                    }
                    return;
                }
            };
            wait(read(text)).await;
            if until_enabled(button, current).await {
                click(button);
            }
        });
    });
}

fn button(testid: &str) -> Option<web_sys::HtmlButtonElement> {
    browser::window()
        .document()?
        .query_selector(&format!("[data-testid=\"{testid}\"]"))
        .ok()??
        .dyn_into()
        .ok()
}

/// Waits until the button is on the page and enabled; false if the stage moved on.
async fn until_enabled(testid: &str, current: impl Fn() -> bool) -> bool {
    loop {
        if !current() {
            return false;
        }
        if button(testid).is_some_and(|b| !b.disabled()) {
            return true;
        }
        browser::sleep(25).await;
    }
}

fn click(testid: &str) -> bool {
    button(testid).map(|b| b.click()).is_some()
}
