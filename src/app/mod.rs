//! The participant app: loads the experiment, restores or starts the session, and shows
//! the page the session is on. The DOM never decides what the data says: answers are
//! scored by `exemplar-core`, records are built from the plan.

mod browser;
mod delivery;
mod engine;
mod images;
mod live_check;
mod offline;
mod pages;
mod preview;
mod session;
mod simulate;
mod trial;

use std::sync::Arc;

use exemplar_core::record::Body;
use exemplar_core::Experiment;
use leptos::prelude::*;

use session::Ctx;

/// Where the client looks for the experiment unless `?experiment=` says otherwise.
const DEFAULT_EXPERIMENT: &str = "experiment/experiment.json";

#[derive(Clone)]
enum Load {
    Loading,
    /// The experiment could not be used: a title and the problems.
    Failed(String, Vec<String>),
    Ready(Ctx),
    /// `?mode=preview`: the experiment and its folder's URL.
    Preview(Arc<Experiment>, String),
    /// An MTurk worker previewing the HIT: the welcome page, and no session.
    MturkPreview(String),
}

/// Mounts the app on the page.
pub fn start() {
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let state = RwSignal::new(Load::Loading);
    leptos::task::spawn_local(async move {
        state.set(load_experiment().await);
    });
    move || {
        match state.get() {
        Load::Loading => view! { <main class="page"><p class="status" data-testid="loading">"Loading the study…"</p></main> }.into_any(),
        Load::Failed(title, problems) => view! {
            <main class="page error" data-testid="experiment-error">
                <h1>"This study cannot start"</h1>
                <p>{title}</p>
                <ul>{problems.into_iter().map(|p| view! { <li><code>{p}</code></li> }).collect_view()}</ul>
                <p class="hint">"If you are a participant, please contact the researcher. If you are the researcher, run "<code>"exemplar validate"</code>" on the experiment folder."</p>
            </main>
        }
        .into_any(),
        Load::Ready(ctx) => view! { <pages::Session ctx=ctx/> }.into_any(),
        Load::Preview(exp, base) => view! { <preview::Preview exp=exp base=base/> }.into_any(),
        Load::MturkPreview(html) => view! {
            <main class="page" data-testid="mturk-preview">
                <article class="text" inner_html=html></article>
                <p class="status">"This is a preview. Please accept the HIT to start."</p>
            </main>
        }
        .into_any(),
    }
    }
}

async fn load_experiment() -> Load {
    let url = browser::query_param("experiment").unwrap_or_else(|| DEFAULT_EXPERIMENT.to_string());
    let absolute = browser::resolve_url(&url);
    let base = absolute
        .rsplit_once('/')
        .map(|(dir, _)| format!("{dir}/"))
        .unwrap_or_default();
    let text = match gloo_net::http::Request::get(&absolute).send().await {
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
    let exp = match Experiment::from_json(&text) {
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
    }
    // A built site (`exemplar build`) has a manifest beside the experiment.
    match gloo_net::http::Request::get(&format!("{base}manifest.json"))
        .send()
        .await
    {
        Ok(r) if r.ok() => match r.json::<exemplar_core::manifest::Manifest>().await {
            Ok(m) => images::set_manifest(m),
            Err(e) => {
                return Load::Failed(
                    format!("The manifest beside {url} is damaged"),
                    vec![e.to_string()],
                )
            }
        },
        _ => {}
    }
    if matches!(
        exp.collect,
        exemplar_core::experiment::Collect::Mturk { .. }
    ) && browser::query_param("assignmentId").as_deref() == Some("ASSIGNMENT_ID_NOT_AVAILABLE")
    {
        return Load::MturkPreview(exemplar_core::markdown::render(&exp.pages.welcome, &base));
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
        let plan = exemplar_core::Plan::for_participant(&exp, &pid);
        plan.practice
            .iter()
            .flatten()
            .chain(&plan.main)
            .flat_map(|t| t.images().map(String::from).collect::<Vec<_>>())
            .collect()
    };
    let mut keep: Vec<String> = stimuli
        .iter()
        .filter_map(|p| images::source(p))
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
    let (ctx, resumed) = Ctx::open(exp, base, mode, None);
    start_session(&ctx, resumed);
    Load::Ready(ctx)
}

/// The session's first record: started (with the environment and the platform's ids),
/// or resumed after a reload.
fn start_session(ctx: &Ctx, resumed: bool) {
    if resumed {
        ctx.emit(Body::SessionResumed(browser::environment()), |_| {});
    } else {
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
