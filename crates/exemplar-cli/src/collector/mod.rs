//! The reference collector: `POST /records` into SQLite or PostgreSQL, exactly once per
//! record, and readable only by the researcher.
//!
//! - Writing and reading are separate. Posting may need a per-study write key
//!   (`--write-key`): it ships in `experiment.json`, so it is public and only keeps
//!   strangers' test traffic out. Reading (`GET /admin/records`) needs the admin token
//!   (`--admin-token` / `EXEMPLAR_ADMIN_TOKEN`), which never leaves the researcher's
//!   machine; without one nothing is readable over HTTP (the database file still is). The
//!   admin routes send no CORS headers, so no page of another origin can read them.
//! - A request is answered 200 only after its records are committed (WAL, `synchronous =
//!   FULL`), so an acknowledged record survives a crash or a power cut.
//! - A record is stored only under its own session: its `record_id` must be
//!   `<session_id>-<seq>`. Inserts are idempotent by `record_id`: a record sent again with
//!   the same content is acknowledged and stored once. The same id with *different*
//!   content is a conflict: that record is not stored, the rest of the batch is, and the
//!   409 answer names the conflicting ids.
//! - Every record is checked against the record format (`exemplar.record/1`): 400 with the
//!   reason (and the record's index). Limits, on by default: `--max-body` (413),
//!   `--max-records` per request (413), `--max-db-mib` (507), `--rate`/`--burst` per client
//!   address (429 with `Retry-After`), and the server's own (see [`limits`]). An `Origin`
//!   outside `--allow-origin` gets 403; a missing or wrong key or token 401.
//! - `GET /health` answers 200.

mod limits;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use exemplar_core::record::{Record, RECORD_FORMAT};
use serde_json::{json, Value};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;

pub use limits::{secret_matches, RateOptions, ServerLimits};
pub use store::{display_name, is_postgres, Db, InsertError, Stored};

/// Where a server listens (`exemplar collect`, `exemplar serve`).
#[derive(clap::Args, Clone)]
pub struct Listen {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    #[command(flatten)]
    pub limits: ServerLimits,
}

/// Options shared by `exemplar collect` and `exemplar serve`.
#[derive(clap::Args, Clone)]
pub struct CollectorOptions {
    /// The SQLite database file (created if missing), or a PostgreSQL database
    /// (postgres://USER:PASSWORD@HOST/DB, shared by several collectors; also EXEMPLAR_DB,
    /// which keeps the password off the command line).
    #[arg(
        long,
        env = "EXEMPLAR_DB",
        hide_env_values = true,
        default_value = "responses.db"
    )]
    pub db: std::path::PathBuf,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Most records in one request (the client sends `delivery.batch_size`, 50 by default).
    #[arg(long, default_value_t = 500)]
    pub max_records: usize,
    /// Largest database, in MiB; past it records are refused with 507 (and logged).
    #[arg(long, default_value_t = 10 * 1024)]
    pub max_db_mib: u64,
    /// Origins allowed to post (repeatable), e.g. https://study.example.org; default: any.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Require `Authorization: Bearer KEY` to post (also EXEMPLAR_WRITE_KEY). The key is
    /// public: it ships in experiment.json to every participant.
    #[arg(long = "write-key", alias = "token", env = "EXEMPLAR_WRITE_KEY")]
    pub write_key: Option<String>,
    /// The researcher's secret for reading records (`GET /admin/records` with
    /// `Authorization: Bearer TOKEN`); also EXEMPLAR_ADMIN_TOKEN. At least 16 characters.
    /// Without it nothing is readable over HTTP. Never put it in experiment.json.
    #[arg(long, env = "EXEMPLAR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub rate: RateOptions,
}

impl CollectorOptions {
    /// Opens the database with the options' size limit, after checking the options.
    pub fn open_db(&self) -> Result<Db, String> {
        if let Some(admin) = &self.admin_token {
            if admin.chars().count() < 16 {
                return Err(
                    "--admin-token is shorter than 16 characters: too easy to guess".into(),
                );
            }
            if self.write_key.as_deref() == Some(admin.as_str()) {
                return Err("--admin-token equals --write-key, which every participant gets: choose another admin token".into());
            }
        }
        Db::open_limited(&self.db, Some(self.max_db_mib.saturating_mul(1 << 20)))
    }
}

struct AppState {
    db: Db,
    write_key: Option<String>,
    admin_token: Option<String>,
    origins: Vec<String>,
    max_records: usize,
    limiter: limits::RateLimiter,
}

/// The collector's routes, on a database, with the options' limits.
pub fn router(db: Db, opts: &CollectorOptions, server: &ServerLimits) -> Router {
    let origins: Vec<String> = opts
        .allow_origins
        .iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .collect();
    // CORS only where a participant's page must reach: posting records.
    let cors = CorsLayer::new()
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(Duration::from_secs(600))
        .allow_origin(if origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        });
    let state = Arc::new(AppState {
        db,
        write_key: opts.write_key.clone(),
        admin_token: opts.admin_token.clone(),
        origins,
        max_records: opts.max_records,
        limiter: limits::RateLimiter::new(&opts.rate),
    });
    let public = Router::new()
        .route("/records", post(receive).get(moved))
        .layer(cors);
    let admin = Router::new().route("/admin/records", get(list));
    public
        .merge(admin)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limited))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(opts.max_body))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            server.body_timeout_secs.max(1),
        )))
        .with_state(state)
}

/// Runs a router until Ctrl-C with the server limits, printing the URL first.
pub fn serve_forever(
    app: Router,
    listen: &Listen,
    banner: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    limits::serve_forever(app, &listen.host, listen.port, &listen.limits, banner)
}

fn reject(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

async fn rate_limited(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer {
        if let Err(wait) = state.limiter.check(ip) {
            let mut answer = reject(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests from {ip}: try again in {wait} s"),
            );
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return answer;
        }
    }
    next.run(req).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Checks origin and write key of a post; `Some(response)` refuses it.
fn gate(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !state.origins.is_empty() && !state.origins.iter().any(|o| o == origin) {
            return Some(reject(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed to post here"),
            ));
        }
    }
    if let Some(key) = &state.write_key {
        if !bearer(headers).is_some_and(|given| secret_matches(given, key)) {
            return Some(reject(
                StatusCode::UNAUTHORIZED,
                "missing or wrong write key (Authorization: Bearer …)",
            ));
        }
    }
    None
}

/// Checks the admin token; `Some(response)` refuses the read.
fn admin_gate(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.admin_token else {
        return Some(reject(
            StatusCode::FORBIDDEN,
            "reading records over HTTP is off: start the collector with --admin-token (or EXEMPLAR_ADMIN_TOKEN), or use `exemplar export --db FILE`",
        ));
    };
    if !bearer(headers).is_some_and(|given| secret_matches(given, token)) {
        eprintln!("exemplar: refused a read of the records without the admin token");
        let mut answer = reject(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer …)",
        );
        answer.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"exemplar admin\""),
        );
        return Some(answer);
    }
    None
}

/// Why an envelope was refused: the status and the reason.
pub type Refusal = (StatusCode, String);

/// Parses and checks a posted body: the envelope, every record against the record
/// format, and that each record's id is `<session_id>-<seq>`. Pure, so it is fuzzed.
pub fn parse_envelope(body: &[u8], max_records: usize) -> Result<Vec<(Record, Value)>, Refusal> {
    let bad = |reason: String| (StatusCode::BAD_REQUEST, reason);
    let raw: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    if raw["format"] != RECORD_FORMAT {
        return Err(bad(format!(
            "format: expected {RECORD_FORMAT:?}, got {}",
            raw["format"]
        )));
    }
    let Some(items) = raw["records"].as_array() else {
        return Err(bad("records: expected a list of records".into()));
    };
    if items.len() > max_records {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "records: {} in one request, at most {max_records} (--max-records)",
                items.len()
            ),
        ));
    }
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let r = serde_path_to_error::deserialize::<_, Record>(item).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                format!("records[{i}]")
            } else {
                format!("records[{i}].{path}")
            };
            bad(format!("{at}: {}", e.into_inner()))
        })?;
        if r.format != RECORD_FORMAT {
            return Err(bad(format!(
                "records[{i}].format: expected {RECORD_FORMAT:?}, got {:?}",
                r.format
            )));
        }
        let own = format!("{}-{}", r.session_id, r.seq);
        if r.record_id != own {
            return Err(bad(format!(
                "records[{i}].record_id: must be <session_id>-<seq> ({own:?}), got {:?}",
                r.record_id
            )));
        }
        records.push((r, item.clone()));
    }
    Ok(records)
}

async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(refused) = gate(&state, &headers) {
        return refused;
    }
    let body = match body {
        Ok(body) => body,
        // A body that stopped arriving is the network's fault, not the records': 408, which
        // the client retries (a 400 would make it set the records aside).
        Err(BytesRejection::FailedToBufferBody(e)) if timed_out(&e) => {
            return reject(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive within --body-timeout-secs",
            )
        }
        Err(e) => return e.into_response(),
    };
    let records = match parse_envelope(&body, state.max_records) {
        Ok(r) => r,
        Err((status, reason)) => return reject(status, reason),
    };
    let state2 = state.clone();
    match tokio::task::spawn_blocking(move || state2.db.insert(&records)).await {
        Ok(Ok(s)) if s.conflicts.is_empty() => {
            Json(json!({ "stored": s.stored, "duplicates": s.duplicates })).into_response()
        }
        Ok(Ok(s)) => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": format!(
                    "{} record(s) already stored with different content were not stored: {}; the others were",
                    s.conflicts.len(),
                    s.conflicts.join(", ")
                ),
                "stored": s.stored,
                "duplicates": s.duplicates,
                "conflicts": s.conflicts,
            })),
        )
            .into_response(),
        Ok(Err(InsertError::Full)) => {
            eprintln!("exemplar: the database is full (--max-db-mib): refused a request");
            reject(
                StatusCode::INSUFFICIENT_STORAGE,
                "the collector's database is full; nothing of this request was stored",
            )
        }
        Ok(Err(InsertError::Storage(e))) => {
            eprintln!("exemplar: could not store records: {e}");
            reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not store the records: {e}"),
            )
        }
        Err(e) => reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not store the records: {e}"),
        ),
    }
}

/// Whether an error was caused by the body read timeout.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

async fn moved() -> Response {
    reject(
        StatusCode::METHOD_NOT_ALLOWED,
        "records are read at GET /admin/records with the admin token",
    )
}

#[derive(serde::Deserialize)]
struct ListQuery {
    format: Option<String>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Some(refused) = admin_gate(&state, &headers) {
        return refused;
    }
    let format = query.format.unwrap_or_else(|| "json".into());
    if !["json", "jsonl", "csv"].contains(&format.as_str()) {
        return reject(
            StatusCode::BAD_REQUEST,
            format!("format: json, jsonl or csv, not {format:?}"),
        );
    }
    let all = match tokio::task::spawn_blocking(move || state.db.all()).await {
        Ok(Ok(all)) => all,
        Ok(Err(e)) => {
            return reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not read the records: {e}"),
            )
        }
        Err(e) => {
            return reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not read the records: {e}"),
            )
        }
    };
    let (kind, body) = match format.as_str() {
        "json" => return private(Json(all).into_response()),
        "jsonl" => {
            let mut out = Vec::new();
            let _ = crate::export::jsonl(&all, &mut out);
            ("application/jsonl", out)
        }
        _ => {
            let mut out = Vec::new();
            let _ = crate::export::csv(&all, &mut out, crate::export::Cells::Neutralised);
            ("text/csv; charset=utf-8", out)
        }
    };
    private(([(header::CONTENT_TYPE, kind)], body).into_response())
}

/// Personal data: no cache may keep it.
fn private(mut answer: Response) -> Response {
    answer
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}
