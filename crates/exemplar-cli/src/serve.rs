//! `exemplar serve`: one local port for the built client, the experiment and a records
//! endpoint that stores what it receives.
//!
//! Records arrive as an [`Envelope`] on `POST /records` and are appended to a JSON Lines
//! file, flushed to disk before the answer. A record whose `record_id` is already stored
//! is acknowledged and not stored again, so a client may resend freely. `GET /records`
//! returns everything stored (for pilots and tests); `GET /health` answers 200.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exemplar_core::record::{Envelope, RECORD_FORMAT};
use serde_json::{json, Value};
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;

/// Options of `exemplar serve`.
#[derive(clap::Args)]
pub struct Options {
    /// The built client (Trunk's output).
    #[arg(long, default_value = "dist")]
    site: PathBuf,
    /// The experiment folder, served at /experiment/ (where the client looks by default).
    #[arg(long, default_value = "demo")]
    experiment: PathBuf,
    /// More folders to serve, as URL-PREFIX=DIR (for example /broken=tests/fixtures/broken).
    #[arg(long, value_name = "PREFIX=DIR")]
    mount: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Where received records are appended, one JSON object per line.
    #[arg(long, default_value = "responses.jsonl")]
    records: PathBuf,
}

struct Store {
    file: std::fs::File,
    ids: HashSet<String>,
    lines: Vec<Value>,
}

type Shared = Arc<Mutex<Store>>;

/// Runs the server until Ctrl-C.
pub fn run(opts: Options) -> Result<(), String> {
    if !opts.site.join("index.html").is_file() {
        return Err(format!(
            "{} has no index.html: build the client first (trunk build --release)",
            opts.site.display()
        ));
    }
    let experiment = exemplar_core::Experiment::load_dir(&opts.experiment).map_err(|p| {
        format!(
            "{} is not a valid experiment:\n{p}",
            opts.experiment.display()
        )
    })?;
    let store = open_store(&opts.records)?;
    let stored = store.ids.len();

    let mut app = Router::new()
        .route("/records", post(receive).get(list))
        .route("/health", get(|| async { "ok" }))
        .nest_service("/experiment", ServeDir::new(&opts.experiment));
    for m in &opts.mount {
        let (prefix, dir) = m
            .split_once('=')
            .ok_or_else(|| format!("--mount {m}: expected PREFIX=DIR"))?;
        let prefix = format!("/{}", prefix.trim_matches('/'));
        app = app.nest_service(&prefix, ServeDir::new(dir));
    }
    let app = app
        .fallback_service(ServeDir::new(&opts.site).append_index_html_on_directories(true))
        .layer(CorsLayer::permissive())
        .with_state(Arc::new(Mutex::new(store)));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", opts.host, opts.port))?;
        let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "exemplar: serving {:?} ({}) at http://{addr}/",
            experiment.title, experiment.id
        );
        println!(
            "exemplar: records go to {} ({stored} already stored); Ctrl-C stops",
            opts.records.display()
        );
        std::io::stdout().flush().ok();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await
            .map_err(|e| e.to_string())
    })
}

fn open_store(path: &PathBuf) -> Result<Store, String> {
    let mut ids = HashSet::new();
    let mut lines = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            // A torn last line (a crash mid-write) is skipped, not fatal.
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                eprintln!(
                    "exemplar: {}:{}: skipping an unreadable line",
                    path.display(),
                    n + 1
                );
                continue;
            };
            if let Some(id) = v["record_id"].as_str() {
                ids.insert(id.to_string());
            }
            lines.push(v);
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Store { file, ids, lines })
}

fn reject(status: StatusCode, reason: String) -> Response {
    (status, Json(json!({ "error": reason }))).into_response()
}

async fn receive(State(store): State<Shared>, body: String) -> Response {
    let raw: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return reject(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")),
    };
    let envelope: Envelope = match serde_path_to_json(&raw) {
        Ok(e) => e,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e),
    };
    if envelope.format != RECORD_FORMAT {
        return reject(
            StatusCode::BAD_REQUEST,
            format!("format {:?} is not {RECORD_FORMAT:?}", envelope.format),
        );
    }
    let raw_records = raw["records"].as_array().cloned().unwrap_or_default();
    let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
    let (mut stored, mut duplicates) = (0, 0);
    let mut out = Vec::new();
    for (rec, raw) in envelope.records.iter().zip(raw_records) {
        if store.ids.contains(&rec.record_id)
            || out
                .iter()
                .any(|(id, _): &(String, Value)| id == &rec.record_id)
        {
            duplicates += 1;
        } else {
            out.push((rec.record_id.clone(), raw));
        }
    }
    let mut text = String::new();
    for (_, raw) in &out {
        text.push_str(&raw.to_string());
        text.push('\n');
    }
    if let Err(e) = store
        .file
        .write_all(text.as_bytes())
        .and_then(|_| store.file.sync_data())
    {
        return reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not store the records: {e}"),
        );
    }
    for (id, raw) in out {
        store.ids.insert(id);
        store.lines.push(raw);
        stored += 1;
    }
    Json(json!({ "stored": stored, "duplicates": duplicates })).into_response()
}

/// Deserializes an envelope, naming the path of the first problem.
fn serde_path_to_json(raw: &Value) -> Result<Envelope, String> {
    serde_json::from_value::<Envelope>(raw.clone())
        .map_err(|e| format!("not a valid record envelope: {e}"))
}

async fn list(State(store): State<Shared>) -> Json<Vec<Value>> {
    let store = store.lock().unwrap_or_else(|e| e.into_inner());
    Json(store.lines.clone())
}
