//! The reference collector: `POST /records` into SQLite, exactly once per record.
//!
//! - A request is answered 200 only after its records are committed (WAL, `synchronous =
//!   FULL`), so an acknowledged record survives a crash or a power cut.
//! - Inserts are idempotent by `record_id`: a record sent again with the same content is
//!   acknowledged and stored once. The same id with *different* content is refused with
//!   409 and nothing of that request is stored: two different records must never share an
//!   id, and silently keeping either one would hide the fault.
//! - Every record is checked against the record format (`exemplar.record/1`): 400 with the
//!   reason (and the record's index). Bodies over `--max-body` get 413; requests from an
//!   `Origin` outside `--allow-origin` get 403; without the `--token` (when one is set),
//!   401.
//! - `GET /health` answers 200; `GET /records` lists what is stored (token required when
//!   one is set).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exemplar_core::record::{Record, RECORD_FORMAT};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Where a server listens (`exemplar collect`, `exemplar serve`).
#[derive(clap::Args, Clone)]
pub struct Listen {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
}

/// Options shared by `exemplar collect` and `exemplar serve`.
#[derive(clap::Args, Clone)]
pub struct CollectorOptions {
    /// The SQLite database (created if missing).
    #[arg(long, default_value = "responses.db")]
    pub db: std::path::PathBuf,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Origins allowed to post (repeatable), e.g. https://study.example.org; default: any.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Require `Authorization: Bearer TOKEN` (also from the EXEMPLAR_TOKEN variable).
    #[arg(long, env = "EXEMPLAR_TOKEN")]
    pub token: Option<String>,
}

/// The store.
pub struct Db {
    conn: Mutex<rusqlite::Connection>,
}

/// What an insert did.
#[derive(Debug, PartialEq, Eq)]
pub struct Stored {
    /// Newly stored records.
    pub stored: usize,
    /// Records that were already stored with the same content.
    pub duplicates: usize,
}

/// Why an insert stored nothing.
#[derive(Debug)]
pub enum InsertError {
    /// This id is stored with other content.
    Conflict(String),
    /// The database failed.
    Storage(String),
}

impl Db {
    /// Opens (or creates) the database.
    pub fn open(path: &Path) -> Result<Db, String> {
        let conn =
            rusqlite::Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS records (
                 record_id TEXT PRIMARY KEY,
                 session_id TEXT NOT NULL,
                 participant_id TEXT NOT NULL,
                 experiment_id TEXT NOT NULL,
                 experiment_version TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 type TEXT NOT NULL,
                 received_at REAL NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS records_by_session ON records (session_id, seq);",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// Stores the records in one transaction: all of them, or none on a conflict.
    pub fn insert(&self, records: &[(Record, Value)]) -> Result<Stored, InsertError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let storage = |e: rusqlite::Error| InsertError::Storage(e.to_string());
        let tx = conn.transaction().map_err(storage)?;
        let mut out = Stored {
            stored: 0,
            duplicates: 0,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for (record, raw) in records {
            let body = raw.to_string();
            let existing: Option<String> = tx
                .query_row(
                    "SELECT body FROM records WHERE record_id = ?1",
                    [&record.record_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            match existing {
                Some(b) if same_json(&b, raw) => out.duplicates += 1,
                Some(_) => return Err(InsertError::Conflict(record.record_id.clone())),
                None => {
                    let kind = raw["type"].as_str().unwrap_or_default();
                    tx.execute(
                        "INSERT INTO records (record_id, session_id, participant_id, experiment_id, experiment_version, seq, type, received_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            record.record_id,
                            record.session_id,
                            record.participant_id,
                            record.experiment_id,
                            record.experiment_version,
                            record.seq as i64,
                            kind,
                            now,
                            body
                        ],
                    )
                    .map_err(storage)?;
                    out.stored += 1;
                }
            }
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Every stored record, in arrival order.
    pub fn all(&self) -> Result<Vec<Value>, String> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn
            .prepare("SELECT body FROM records ORDER BY rowid")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        rows.map(|r| {
            r.map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_str(&b).map_err(|e| e.to_string()))
        })
        .collect()
    }

    /// Number of stored records.
    pub fn count(&self) -> usize {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n as usize)
    }
}

fn same_json(stored: &str, raw: &Value) -> bool {
    serde_json::from_str::<Value>(stored).is_ok_and(|v| &v == raw)
}

struct AppState {
    db: Db,
    token: Option<String>,
    origins: Vec<String>,
}

/// The collector's routes, on a database, with the options' limits.
pub fn router(db: Db, opts: &CollectorOptions) -> Router {
    let origins: Vec<String> = opts
        .allow_origins
        .iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .collect();
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .allow_origin(if origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        });
    let state = Arc::new(AppState {
        db,
        token: opts.token.clone(),
        origins,
    });
    Router::new()
        .route("/records", post(receive).get(list))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(opts.max_body))
        .layer(cors)
        .with_state(state)
}

fn reject(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

/// Checks origin and token; `Some(response)` refuses the request.
fn gate(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !state.origins.is_empty() && !state.origins.iter().any(|o| o == origin) {
            return Some(reject(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed to post here"),
            ));
        }
    }
    if let Some(token) = &state.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return Some(reject(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token (Authorization: Bearer …)",
            ));
        }
    }
    None
}

async fn receive(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = gate(&state, &headers) {
        return refused;
    }
    let raw: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return reject(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")),
    };
    if raw["format"] != RECORD_FORMAT {
        return reject(
            StatusCode::BAD_REQUEST,
            format!("format: expected {RECORD_FORMAT:?}, got {}", raw["format"]),
        );
    }
    let Some(items) = raw["records"].as_array() else {
        return reject(
            StatusCode::BAD_REQUEST,
            "records: expected a list of records",
        );
    };
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, Record>(item) {
            Ok(r) if r.format != RECORD_FORMAT => {
                return reject(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "records[{i}].format: expected {RECORD_FORMAT:?}, got {:?}",
                        r.format
                    ),
                )
            }
            Ok(r) => records.push((r, item.clone())),
            Err(e) => {
                let path = e.path().to_string();
                let at = if path == "." {
                    format!("records[{i}]")
                } else {
                    format!("records[{i}].{path}")
                };
                return reject(StatusCode::BAD_REQUEST, format!("{at}: {}", e.into_inner()));
            }
        }
    }
    let state2 = state.clone();
    match tokio::task::spawn_blocking(move || state2.db.insert(&records)).await {
        Ok(Ok(s)) => Json(json!({ "stored": s.stored, "duplicates": s.duplicates })).into_response(),
        Ok(Err(InsertError::Conflict(id))) => reject(
            StatusCode::CONFLICT,
            format!("record {id} is already stored with different content; nothing of this request was stored"),
        ),
        Ok(Err(InsertError::Storage(e))) => reject(StatusCode::INTERNAL_SERVER_ERROR, format!("could not store the records: {e}")),
        Err(e) => reject(StatusCode::INTERNAL_SERVER_ERROR, format!("could not store the records: {e}")),
    }
}

async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&state, &headers) {
        return refused;
    }
    match tokio::task::spawn_blocking(move || state.db.all()).await {
        Ok(Ok(all)) => Json(all).into_response(),
        Ok(Err(e)) => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not read the records: {e}"),
        ),
        Err(e) => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not read the records: {e}"),
        ),
    }
}

/// Runs a router on `host:port` until Ctrl-C, printing the URL first.
pub fn serve_forever(
    app: Router,
    listen: &Listen,
    banner: impl FnOnce(std::net::SocketAddr),
) -> Result<(), String> {
    let (host, port) = (listen.host.as_str(), listen.port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        banner(addr);
        use std::io::Write;
        std::io::stdout().flush().ok();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await
            .map_err(|e| e.to_string())
    })
}
