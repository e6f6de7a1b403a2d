//! The participant app: loads the experiment, restores or starts the session, and shows
//! the page the session is on. The DOM never decides what the data says: answers are
//! scored by `exemplar-core`, records are built from the plan.
//!
//! Two pages share this code. The participant's page (`index.html`, binary
//! `exemplar-app`) calls [`start`] with no [`Research`] tools, so the preview, the
//! simulator, "Check all", the data panel and the Markdown parser are not linked into its
//! wasm; a link that asks for them (`?mode=preview`, `?simulate=`) is sent on to the
//! researcher's page (`research.html`, binary `exemplar-research`), which passes them.

mod browser;
mod delivery;
mod engine;
mod images;
mod kept;
mod live_check;
mod offline;
mod pages;
mod preview;
mod session;
mod simulate;
mod text;
mod trial;

use std::sync::{Arc, OnceLock};

use exemplar_core::experiment::Collect;
use exemplar_core::record::{Body, HandoverParameter};
use exemplar_core::texts::{fill, T};
use exemplar_core::{untrusted, Experiment};
use leptos::prelude::*;

use session::Ctx;

/// Where the client looks for the experiment unless `?experiment=` says otherwise.
const DEFAULT_EXPERIMENT: &str = "experiment/experiment.json";

/// The `<meta name=…>` of `index.html` listing the other origins `?experiment=` may name
/// (written by `exemplar build --allow-experiment-origin`; whitespace-separated).
const ALLOWED_ORIGINS_META: &str = "exemplar-experiment-origins";

#[derive(Clone)]
enum Load {
    Loading,
    /// The experiment could not be used: a title and the problems.
    Failed(String, Vec<String>),
    Ready(Ctx),
    /// `?mode=preview`: the experiment and its folder's URL.
    Preview(Arc<Experiment>, String),
    /// An MTurk worker previewing the HIT: the welcome page, and no session.
    MturkPreview(String, Arc<Experiment>),
    /// This session is open in another tab or window of this browser (it holds the
    /// session's Web Lock): nothing is shown, stored or sent here.
    AlreadyOpen(Arc<Experiment>),
}

/// What only the researcher's page links in ([`research_tools`]).
#[derive(Clone, Copy)]
pub struct Research {
    /// The preview page (with "Check all" and the data panel).
    preview: fn(Arc<Experiment>, String, engine::Engine, images::Images) -> AnyView,
    /// Drives a session with a simulated participant (`?simulate=`).
    simulate: fn(&Ctx, Memo<exemplar_core::Stage>),
    /// Markdown to HTML, for texts `pages.json` does not have (an unbuilt folder).
    markdown: fn(&str) -> String,
    /// The experiment file with every problem and its JSON path (the participant's page
    /// uses `Experiment::from_json_lean`).
    parse: fn(&str) -> Result<Experiment, exemplar_core::Problems>,
}

static RESEARCH: OnceLock<Research> = OnceLock::new();

/// The researcher's tools, when this is the researcher's page.
fn research() -> Option<&'static Research> {
    RESEARCH.get()
}

/// The researcher's tools (only the researcher's binary calls this).
pub fn research_tools() -> Research {
    Research {
        preview: |exp, base, engine, images| {
            view! { <preview::Preview exp=exp base=base engine=engine images=images/> }.into_any()
        },
        simulate: simulate::drive,
        markdown: |text| exemplar_core::markdown::render(text, ""),
        parse: Experiment::from_json,
    }
}

/// The researcher's page, relative to this one.
const RESEARCH_PAGE: &str = "research.html";

/// This page's query and fragment on the researcher's page: a fixed, relative address.
fn research_link() -> String {
    let location = browser::window().location();
    format!(
        "{RESEARCH_PAGE}{}{}",
        location.search().unwrap_or_default(),
        location.hash().unwrap_or_default()
    )
}

/// Mounts the app on the page: the participant's (`None`) or the researcher's.
pub fn start(research: Option<Research>) {
    if let Some(r) = research {
        let _ = RESEARCH.set(r);
    } else if matches!(
        session::Mode::from_url(),
        Ok(session::Mode::Preview | session::Mode::Simulate { .. })
    ) && browser::window()
        .location()
        .replace(&research_link())
        .is_ok()
    {
        return;
    }
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let state = RwSignal::new(Load::Loading);
    // The page's stimuli and engine worker, handed to every session on the page.
    let images = images::Images::new();
    let engine = engine::Engine::new(images);
    leptos::task::spawn_local(async move {
        state.set(load_experiment(engine, images).await);
    });
    // Before the experiment says its language, the page speaks the browser's.
    let local = text::browser_language();
    move || {
        match state.get() {
        Load::Loading => view! { <main class="page"><p class="status" data-testid="loading">{T::LoadingStudy.default_in(local)}</p></main> }.into_any(),
        Load::Failed(title, problems) => view! {
            <main class="page error" data-testid="experiment-error">
                <h1>{T::CannotStartTitle.default_in(local)}</h1>
                <p>{title}</p>
                <ul>{problems.into_iter().map(|p| view! { <li><code>{p}</code></li> }).collect_view()}</ul>
                <p class="hint">{text::with_code(T::CannotStartHint.default_in(local))}</p>
                // For the researcher: the page that lists every problem with its path.
                {research().is_none().then(|| view! {
                    <p class="hint" lang="en"><a data-testid="research-page" href=research_link()>"Open this link on the researcher's page"</a></p>
                })}
            </main>
        }
        .into_any(),
        Load::Ready(ctx) => view! { <pages::Session ctx=ctx/> }.into_any(),
        Load::Preview(exp, base) => match research() {
            Some(r) => (r.preview)(exp, base, engine, images),
            None => view! { <main class="page"></main> }.into_any(),
        },
        Load::MturkPreview(html, exp) => view! {
            <main class="page" data-testid="mturk-preview">
                <article class="text" inner_html=html></article>
                <p class="status">{exp.text(T::MturkPreview).to_string()}</p>
            </main>
        }
        .into_any(),
        Load::AlreadyOpen(exp) => view! {
            <main class="page" data-testid="already-open">
                <h1>{exp.text(T::AlreadyOpenTitle).to_string()}</h1>
                <p class="text">{exp.text(T::AlreadyOpenText).to_string()}</p>
                <div class="actions">
                    <button data-testid="already-open-retry" on:click=move |_| { let _ = browser::window().location().reload(); }>{exp.text(T::AlreadyOpenRetry).to_string()}</button>
                </div>
            </main>
        }
        .into_any(),
    }
    }
}

async fn load_experiment(engine: engine::Engine, images: images::Images) -> Load {
    let url = browser::query_param("experiment").unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string());
    // `?experiment=` is a URL parameter: it may name only this site or the origins the
    // researcher listed at build time (`exemplar build --allow-experiment-origin`).
    let allowed = browser::meta_content(ALLOWED_ORIGINS_META)
        .map(|list| untrusted::parse_origin_list(&list))
        .unwrap_or_default();
    let checked = browser::parse_url(&url)
        .ok_or_else(|| format!("{url} is not a URL"))
        .and_then(|(href, origin)| {
            untrusted::experiment_source_allowed(&href, &origin, &browser::page_origin(), &allowed)
                .map(|()| href)
        });
    let absolute = match checked {
        Ok(href) => href,
        Err(e) => {
            return Load::Failed(
                "The link to this study names an experiment this site does not load".to_string(),
                vec![e],
            )
        }
    };
    let base = absolute
        .rsplit_once('/')
        .map(|(dir, _)| format!("{dir}/"))
        .unwrap_or_default();
    // The experiment and the manifest and rendered pages beside it (a built site has
    // both) are fetched at once: on a slow connection that saves round trips before the
    // first page.
    let (manifest_url, pages_url) = (format!("{base}manifest.json"), format!("{base}pages.json"));
    let (experiment, manifest, pages) = futures::join!(
        gloo_net::http::Request::get(&absolute).send(),
        gloo_net::http::Request::get(&manifest_url).send(),
        gloo_net::http::Request::get(&pages_url).send()
    );
    let text = match experiment {
        Ok(r) if r.ok() => match r.text().await {
            Ok(t) => t,
            Err(e) => return Load::Failed(format!("Could not read {url}"), vec![e.to_string()]),
        },
        Ok(r) => {
            return Load::Failed(
                format!("Could not load {url}"),
                vec![format!("HTTP {} {}", r.status(), r.status_text())],
            )
        }
        Err(e) => return Load::Failed(format!("Could not load {url}"), vec![e.to_string()]),
    };
    let parse = research().map_or(Experiment::from_json_lean as fn(&str) -> _, |r| r.parse);
    let exp = match parse(&text) {
        Ok(e) => Arc::new(e),
        Err(problems) => {
            return Load::Failed(
                format!(
                    "The experiment file {url} has {} problem(s):",
                    problems.0.len()
                ),
                problems.0.iter().map(ToString::to_string).collect(),
            )
        }
    };
    if let Some(doc) = browser::window().document() {
        doc.set_title(&exp.title);
        if let Some(root) = doc.document_element() {
            let _ = root.set_attribute("lang", &exp.language);
            let _ = root.set_attribute("dir", exemplar_core::texts::direction(&exp.language));
        }
    }
    // A built site (`exemplar build`) has a manifest beside the experiment.
    match manifest {
        Ok(r) if r.ok() => match r.json::<exemplar_core::manifest::Manifest>().await {
            Ok(m) => images.set_manifest(m),
            Err(e) => {
                return Load::Failed(
                    format!("The manifest beside {url} is damaged"),
                    vec![e.to_string()],
                )
            }
        },
        _ => {}
    }
    if let Ok(r) = pages {
        if r.ok() {
            match r.json::<exemplar_core::markdown::RenderedPages>().await {
                Ok(p) => text::set_rendered(p),
                Err(e) => {
                    return Load::Failed(
                        format!("The rendered pages beside {url} are damaged"),
                        vec![e.to_string()],
                    )
                }
            }
        }
    }
    if matches!(
        exp.collect,
        exemplar_core::experiment::Collect::Mturk { .. }
    ) && browser::query_param("assignmentId").as_deref() == Some("ASSIGNMENT_ID_NOT_AVAILABLE")
    {
        return Load::MturkPreview(text::html(&exp.pages.welcome, &base), exp);
    }
    let mode = match session::Mode::from_url() {
        Ok(m) => m,
        Err(e) => {
            return Load::Failed(
                "The address of this page is not usable".to_string(),
                vec![e],
            )
        }
    };
    // Everything the study needs, kept for offline use: a preview may show any stimulus, a
    // participant only those of their plan (computed again by the session below).
    let stimuli: Vec<String> = if mode == session::Mode::Preview {
        exp.stimulus_files().into_iter().map(|(_, f)| f).collect()
    } else {
        let (pid, _) = session::participant_id(&exp, &mode);
        let plan = match session::plan_for(&exp, &pid) {
            Ok(plan) => plan,
            Err(e) => {
                let said = fill(exp.text(T::UnknownCondition), &[("condition", &e.0)]);
                return Load::Failed(said, vec![e.to_string()]);
            }
        };
        plan.blocks
            .iter()
            .flat_map(|b| b.practice.iter().flatten().chain(&b.main))
            .flat_map(|t| t.images().map(String::from).collect::<Vec<_>>())
            .collect()
    };
    let mut keep: Vec<String> = stimuli
        .iter()
        .filter_map(|p| images.source(p))
        .chain(exp.checks.models.values().map(|m| m.file.clone()))
        .map(|f| browser::resolve_url(&format!("{base}{f}")))
        .collect();
    if !exp.checks.models.is_empty() {
        keep.extend(["engine_worker.js", "engine_worker_bg.wasm"].map(browser::resolve_url));
    }
    offline::enable(keep);
    if mode == session::Mode::Preview {
        return Load::Preview(exp, base);
    }
    // One tab per session: a second tab of the same session shows a notice and neither
    // stores nor sends anything (browsers without Web Locks go on as before).
    let (pid, _) = session::participant_id(&exp, &mode);
    let lock = format!(
        "exemplar-session/{}",
        session::storage_key(&exp, &mode, &pid)
    );
    if browser::hold_lock(&lock).await == Some(false) {
        return Load::AlreadyOpen(exp);
    }
    let (ctx, opened) = Ctx::open(exp, base, engine, images, mode, None);
    start_session(&ctx, opened);
    Load::Ready(ctx)
}

/// The session's first record: started (with the environment and the platform's ids),
/// resumed after a reload, or stopped because the experiment changed under it. Then a
/// refused return address, once.
fn start_session(ctx: &Ctx, opened: session::Opened) {
    match opened {
        session::Opened::Started => emit_started(ctx),
        session::Opened::Resumed => ctx.emit(Body::SessionResumed(browser::environment()), |_| {}),
        session::Opened::PlanChanged {
            saved_plan_hash,
            reason,
        } => {
            let plan_hash = ctx.plan.hash();
            ctx.emit(
                Body::PlanChanged {
                    saved_plan_hash,
                    plan_hash,
                    reason,
                },
                |s| s.plan_changed = true,
            );
            return;
        }
        session::Opened::Stopped => {
            ctx.flush();
            return;
        }
    }
    // MTurk: the assignment is submitted to `turkSubmitTo` at the end; only MTurk's own
    // origins are followed. Anything else is recorded now, and the records are kept for
    // the data file the end page then offers.
    if matches!(ctx.exp.collect, Collect::Mturk { .. })
        && ctx.saved.with_untracked(|s| s.handover_refused.is_none())
    {
        if let Some(value) = browser::query_param("turkSubmitTo") {
            if let Err(reason) = untrusted::mturk_submit_origin(&value) {
                ctx.emit(
                    Body::HandoverRefused {
                        parameter: HandoverParameter::TurkSubmitTo,
                        value: value.chars().take(300).collect(),
                        reason: reason.clone(),
                    },
                    |s| {
                        s.handover_refused = Some(reason);
                        s.keep_delivered = true;
                    },
                );
            }
        }
    }
}

fn emit_started(ctx: &Ctx) {
    {
        let seed = ctx.plan.seed.to_string();
        ctx.emit(
            Body::SessionStarted(exemplar_core::record::SessionStarted {
                environment: browser::environment(),
                seed,
                query: browser::query_string(),
                platform: [
                    "PROLIFIC_PID",
                    "STUDY_ID",
                    "SESSION_ID",
                    "workerId",
                    "assignmentId",
                    "hitId",
                    "turkSubmitTo",
                ]
                .into_iter()
                .filter_map(|k| browser::query_param(k).map(|v| (k.to_string(), v)))
                .collect(),
            }),
            |_| {},
        );
    }
}
