//! `exemplar serve`: one local port for the built client, the experiment and the
//! reference collector (see [`crate::collector`]), for the demo, pilots and tests.

use std::path::PathBuf;

use tower_http::services::ServeDir;

use crate::collector::{self, Db};

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

/// Runs the server until Ctrl-C.
pub fn run(mut opts: Options) -> Result<(), String> {
    // A built site's stimuli have hashed names (its manifest maps them), so only the file
    // itself is checked there.
    let built_site = opts.built.is_some();
    if let Some(built) = opts.built.take() {
        if !built.join("experiment/manifest.json").is_file() {
            return Err(format!(
                "{} is not a site made by `exemplar build` (no experiment/manifest.json)",
                built.display()
            ));
        }
        opts.experiment = built.join("experiment");
        opts.site = built;
    }
    if !opts.site.join("index.html").is_file() {
        return Err(format!(
            "{} has no index.html: build the client first (trunk build --release)",
            opts.site.display()
        ));
    }
    let experiment = if built_site {
        std::fs::read_to_string(opts.experiment.join("experiment.json"))
            .map_err(|e| e.to_string())
            .and_then(|t| exemplar_core::Experiment::from_json(&t).map_err(|p| p.to_string()))
    } else {
        exemplar_core::Experiment::load_dir(&opts.experiment).map_err(|p| p.to_string())
    }
    .map_err(|p| {
        format!(
            "{} is not a valid experiment:\n{p}",
            opts.experiment.display()
        )
    })?;
    let db = Db::open(&opts.collector.db)?;
    let stored = db.count();
    let mut app = collector::router(db, &opts.collector)
        .nest_service("/experiment", ServeDir::new(&opts.experiment));
    for m in &opts.mount {
        let (prefix, dir) = m
            .split_once('=')
            .ok_or_else(|| format!("--mount {m}: expected PREFIX=DIR"))?;
        app = app.nest_service(
            &format!("/{}", prefix.trim_matches('/')),
            ServeDir::new(dir),
        );
    }
    let app =
        app.fallback_service(ServeDir::new(&opts.site).append_index_html_on_directories(true));
    let db_path = opts.collector.db.display().to_string();
    collector::serve_forever(app, &opts.listen, |addr| {
        println!(
            "exemplar: serving {:?} ({}) at http://{addr}/",
            experiment.title, experiment.id
        );
        println!("exemplar: records go to {db_path} ({stored} already stored); Ctrl-C stops");
    })
}
