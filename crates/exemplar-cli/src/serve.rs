//! `exemplar serve`: one local port for the built client, the experiment and the
//! reference collector (see [`crate::collector`]), for the demo, pilots and tests.
//!
//! It serves only what a participant needs: the built site, and of an unbuilt experiment
//! folder only `experiment.json` and the files it declares (stimuli, check models, page
//! images). Never a dotfile, never a database or its `-wal`/`-shm`/`-journal`, never a
//! file reached through a symlink that leaves its folder; a `--db` inside a served folder
//! is refused at start.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

use crate::collector;

/// Options of `exemplar serve`.
#[derive(clap::Args)]
pub struct Options {
    /// A site made by `exemplar build` (its client, and its experiment at /experiment/).
    /// Without it, --site and --experiment say where each is.
    #[arg(conflicts_with_all = ["site", "experiment"])]
    built: Option<PathBuf>,
    /// The built client (Trunk's output).
    #[arg(long, default_value = "dist")]
    site: PathBuf,
    /// The experiment folder, served at /experiment/ (where the client looks by default).
    #[arg(long, default_value = "demo")]
    experiment: PathBuf,
    /// More folders to serve, as URL-PREFIX=DIR (for example /broken=tests/fixtures/broken).
    #[arg(long, value_name = "PREFIX=DIR")]
    mount: Vec<String>,
    #[command(flatten)]
    listen: collector::Listen,
    #[command(flatten)]
    collector: collector::CollectorOptions,
}

/// Why `exemplar serve` did not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--built` names a folder that `exemplar build` did not make.
    #[error("{} is not a site made by `exemplar build` (no experiment/manifest.json)", .0.display())]
    NotBuilt(PathBuf),
    /// The client folder has no index.html.
    #[error("{} has no index.html: build the client first (trunk build --release)", .0.display())]
    NoClient(PathBuf),
    /// The experiment does not load.
    #[error("{} is not a valid experiment:\n{source}", dir.display())]
    Invalid {
        dir: PathBuf,
        source: ExperimentError,
    },
    /// A `--mount` without `=`.
    #[error("--mount {0}: expected PREFIX=DIR")]
    Mount(String),
    /// The database's folder does not resolve.
    #[error("--db {}: {source}", db.display())]
    DbFolder { db: PathBuf, source: std::io::Error },
    /// The database lies in a folder the server hands out.
    #[error("--db {} is inside the served folder {}: anyone could download the records; keep the database elsewhere", db.display(), dir.display())]
    DbServed { db: PathBuf, dir: PathBuf },
    /// A folder to serve that does not resolve.
    #[error("{}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store or the server failed (the collector's message).
    #[error("{0}")]
    Collector(String),
}

/// Why an experiment did not load: its file unread, or its problems.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A built site's experiment.json could not be read.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// Every problem of the experiment, one a line.
    #[error(transparent)]
    Problems(#[from] exemplar_core::validate::Problems),
}

/// Runs the server until Ctrl-C.
pub fn run(mut opts: Options) -> Result<(), ServeError> {
    // A built site's stimuli have hashed names (its manifest maps them), so only the file
    // itself is checked there.
    let built_site = opts.built.is_some();
    if let Some(built) = opts.built.take() {
        if !built.join("experiment/manifest.json").is_file() {
            return Err(ServeError::NotBuilt(built));
        }
        opts.experiment = built.join("experiment");
        opts.site = built;
    }
    if !opts.site.join("index.html").is_file() {
        return Err(ServeError::NoClient(opts.site));
    }
    let experiment = if built_site {
        std::fs::read_to_string(opts.experiment.join("experiment.json"))
            .map_err(ExperimentError::from)
            .and_then(|t| Ok(exemplar_core::Experiment::from_json(&t)?))
    } else {
        exemplar_core::Experiment::load_dir(&opts.experiment).map_err(ExperimentError::from)
    }
    .map_err(|source| ServeError::Invalid {
        dir: opts.experiment.clone(),
        source,
    })?;
    let mounts = opts
        .mount
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(prefix, dir)| (prefix.trim_matches('/').to_string(), PathBuf::from(dir)))
                .ok_or_else(|| ServeError::Mount(m.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let served = [&opts.site, &opts.experiment]
        .into_iter()
        .chain(mounts.iter().map(|(_, d)| d));
    for dir in served {
        refuse_db_inside(&opts.collector.db, dir)?;
    }
    // An unbuilt experiment: only what it declares. A built one: its site's files.
    let declared = (!built_site).then(|| declared_files(&experiment));
    let db = opts.collector.open_db().map_err(ServeError::Collector)?;
    let stored = db.count();
    let mut app = collector::router(db, &opts.collector, &opts.listen.limits)
        .nest_service("/experiment", files(&opts.experiment, declared)?);
    for (prefix, dir) in &mounts {
        app = app.nest_service(&format!("/{prefix}"), files(dir, None)?);
    }
    let app = app.fallback_service(files(&opts.site, None)?);
    let db_path = collector::display_name(&opts.collector.db);
    let admin = opts.collector.admin_token.is_some();
    collector::serve_forever(app, &opts.listen, |addr| {
        println!(
            "exemplar: serving {:?} ({}) at http://{addr}/",
            experiment.title, experiment.id
        );
        println!("exemplar: records go to {db_path} ({stored} already stored); Ctrl-C stops");
        if admin {
            println!("exemplar: read them at http://{addr}/admin/records (Authorization: Bearer <the admin token>), or with `exemplar export --db {db_path}`");
        }
    })
    .map_err(ServeError::Collector)
}

/// Refuses a database that the server would hand out as a file.
fn refuse_db_inside(db: &Path, dir: &Path) -> Result<(), ServeError> {
    if collector::is_postgres(db) {
        return Ok(());
    }
    let Ok(dir_abs) = dir.canonicalize() else {
        return Ok(()); // a folder that does not exist serves nothing
    };
    let parent = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let db_abs = parent
        .canonicalize()
        .map_err(|source| ServeError::DbFolder {
            db: db.to_path_buf(),
            source,
        })?
        .join(db.file_name().unwrap_or_default());
    if db_abs.starts_with(&dir_abs) {
        return Err(ServeError::DbServed {
            db: db.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Every file an experiment folder declares, relative to it: `experiment.json`, the
/// stimuli, the check models and the images the pages show.
pub fn declared_files(exp: &exemplar_core::Experiment) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = exp.stimulus_files().into_iter().map(|(_, f)| f).collect();
    out.extend(exp.checks.models.values().map(|m| m.file.clone()));
    out.extend(crate::build::page_images(exp));
    out.insert("experiment.json".into());
    out.into_iter()
        .map(|f| f.trim_start_matches("./").to_string())
        .collect()
}

/// A folder's files behind the checks in the module's doc; `declared`, when given, is the
/// complete list of what may be served.
fn files(root: &Path, declared: Option<BTreeSet<String>>) -> Result<Router, ServeError> {
    let root_abs = root.canonicalize().map_err(|source| ServeError::Folder {
        path: root.to_path_buf(),
        source,
    })?;
    let serve = ServeDir::new(root).append_index_html_on_directories(true);
    let declared = declared.map(Arc::new);
    Ok(Router::new()
        .fallback(move |req: Request| {
            let (serve, root_abs, declared) = (serve.clone(), root_abs.clone(), declared.clone());
            async move {
                if let Some(pages) = live_pages(req.uri().path(), &root_abs, declared.as_deref()) {
                    return pages;
                }
                match servable(req.uri().path(), &root_abs, declared.as_deref()) {
                    Ok(()) => serve.oneshot(req).await.into_response(),
                    Err(status) => status.into_response(),
                }
            }
        })
        // Compressed as the browser accepts (brotli, gzip), as a CDN would serve them;
        // images (already compressed) are sent as they are.
        .layer(CompressionLayer::new()))
}

/// `pages.json` of an unbuilt experiment folder (`declared`; `exemplar build` writes the
/// file), or of any folder without that file: its page texts rendered from the
/// `experiment.json` beside it as it is now, so an edit shows on the next reload. `None`
/// when the request is for something else or a built file is there; 404 when the
/// experiment does not load (its page says why).
fn live_pages(
    path: &str,
    root: &Path,
    declared: Option<&BTreeSet<String>>,
) -> Option<axum::response::Response> {
    let dir = path.strip_suffix("pages.json")?;
    if !(dir.is_empty() || dir.ends_with('/')) {
        return None;
    }
    let experiment = format!("{dir}experiment.json");
    servable(&experiment, root, declared).ok()?;
    let rel = |p: &str| {
        percent_encoding::percent_decode_str(p.trim_start_matches('/'))
            .decode_utf8()
            .ok()
            .map(|p| root.join(p.as_ref()))
    };
    if declared.is_none() && rel(path)?.exists() {
        return None;
    }
    let pages = std::fs::read_to_string(rel(&experiment)?)
        .ok()
        .and_then(|text| exemplar_core::Experiment::from_json(&text).ok())
        .map(|exp| exemplar_core::markdown::render_pages(&exp));
    Some(match pages {
        Some(pages) => (
            [(axum::http::header::CACHE_CONTROL, "no-cache")],
            axum::Json(pages),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    })
}

/// Whether the file at a request path may be served from `root` (canonical).
fn servable(
    path: &str,
    root: &Path,
    declared: Option<&BTreeSet<String>>,
) -> Result<(), StatusCode> {
    let not_found = StatusCode::NOT_FOUND;
    let rel = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| not_found)?;
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if parts
        .iter()
        .any(|p| p.starts_with('.') || p.contains('\\') || p.contains('\0'))
    {
        return Err(not_found);
    }
    let name = parts.last().copied().unwrap_or("");
    if [".db", ".sqlite", "-wal", "-shm", "-journal"]
        .iter()
        .any(|end| name.ends_with(end))
    {
        return Err(not_found);
    }
    let rel = parts.join("/");
    if let Some(declared) = declared {
        if !declared.contains(&rel) {
            return Err(not_found);
        }
    }
    let mut target = root.join(&rel);
    if target.is_dir() {
        target = target.join("index.html");
    }
    match target.canonicalize() {
        Ok(real) if !real.starts_with(root) => Err(not_found),
        // A missing file is ServeDir's 404.
        _ => Ok(()),
    }
}
