//! `exemplar build DIR --out SITE`: a self-contained static site for any static host or CDN.
//!
//! ```text
//! SITE/index.html, exemplar-app-<hash>.js, exemplar-app-<hash>_bg.wasm, style-<hash>.css   the participant's page
//! SITE/research.html, exemplar-research-<hash>.js, …_bg.wasm          the researcher's page (preview, simulation)
//! SITE/engine_worker.js, engine_worker_bg.wasm                        the engine, fetched only for checks
//! SITE/experiment/experiment.json      unchanged (logical stimulus paths)
//! SITE/experiment/manifest.json        logical path → hashed file + SHA-256
//! SITE/experiment/pages.json           every page text, rendered from Markdown
//! SITE/experiment/s/<sha256>.<ext>     every stimulus, named by its content
//! SITE/experiment/<page images>        images the Markdown pages show, at their paths
//! ```
//!
//! All URLs are relative, so the site works under any path. Hashed names never change
//! content, so they may be cached forever; only the two pages, `experiment.json`,
//! `manifest.json` and `pages.json` need revalidation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use exemplar_core::experiment::ParticipantChecks;
use exemplar_core::manifest::{Manifest, ManifestEntry, MANIFEST_FORMAT};
use exemplar_core::validate::Problems;
use exemplar_core::{Experiment, Plan};
use sha2::{Digest, Sha256};

/// Options of `exemplar build`.
#[derive(clap::Args)]
pub struct BuildOptions {
    /// The experiment folder.
    pub dir: PathBuf,
    /// The output folder (created; must be empty or a previous build).
    #[arg(long)]
    pub out: PathBuf,
    /// The built client (Trunk's output).
    #[arg(long, default_value = "dist")]
    pub client: PathBuf,
    /// Another origin (`https://host[:port]`) whose experiments this site may load through
    /// `?experiment=`; repeat for several. By default only the site's own origin. Written
    /// into index.html as `<meta name="exemplar-experiment-origins">` (public, not a secret).
    #[arg(long = "allow-experiment-origin", value_name = "ORIGIN")]
    pub allow_experiment_origin: Vec<String>,
}

/// What a build wrote.
pub struct Built {
    /// Bytes of the whole site.
    pub total_bytes: u64,
    /// Bytes of the client (html, js, wasm, css).
    pub client_bytes: u64,
    /// Stimulus files (distinct contents) and their bytes.
    pub stimuli: (usize, u64),
    /// What one participant downloads: client + experiment + manifest + the stimuli of
    /// one session (first practice round and main block), and the engine worker and
    /// models only with `checks.participant`: mean and max over sample ids.
    pub per_participant: (u64, u64),
}

/// Why a site was not built (or only in part).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The experiment does not load.
    #[error("{} is not a valid experiment:\n{problems}", dir.display())]
    Invalid { dir: PathBuf, problems: Problems },
    /// The client folder has no index.html.
    #[error("{} has no index.html: build the client first (trunk build --release)", .0.display())]
    NoClient(PathBuf),
    /// An `--allow-experiment-origin` that is not a bare origin.
    #[error("--allow-experiment-origin: {0}")]
    Origin(String),
    /// The output folder holds something other than a previous build.
    #[error("{} exists and is not a previous build: choose an empty or new folder", .0.display())]
    NotABuild(PathBuf),
    /// The client's index.html has no `<head>` to put the origins in.
    #[error("{} has no <head>", .0.display())]
    NoHead(PathBuf),
    /// A file or folder that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that could not be copied.
    #[error("cannot copy {} to {}: {source}", from.display(), to.display())]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    /// A file the experiment names that lies outside it (or does not resolve).
    #[error(transparent)]
    Outside(#[from] crate::safe_fs::FsError),
    /// The manifest could not be serialized.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Builds the site.
pub fn run(opts: &BuildOptions) -> Result<Built, BuildError> {
    let exp = Experiment::load_dir(&opts.dir).map_err(|problems| BuildError::Invalid {
        dir: opts.dir.clone(),
        problems,
    })?;
    let dir = if opts.dir.is_dir() {
        opts.dir.clone()
    } else {
        opts.dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    if !opts.client.join("index.html").is_file() {
        return Err(BuildError::NoClient(opts.client.clone()));
    }
    let origins = opts
        .allow_experiment_origin
        .iter()
        .map(|o| exemplar_core::untrusted::bare_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BuildError::Origin)?;
    prepare_out(&opts.out)?;
    let site_exp = opts.out.join("experiment");
    std::fs::create_dir_all(site_exp.join("s")).map_err(|e| io(&site_exp, e))?;

    let mut client_bytes = 0;
    // The engine worker is fetched only when the browser checks stimuli.
    let participant_checks = exp.checks.participant != ParticipantChecks::Off;
    let mut participant_client_bytes = 0;
    for entry in std::fs::read_dir(&opts.client).map_err(|e| io(&opts.client, e))? {
        let path = entry.map_err(|e| io(&opts.client, e))?.path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default();
            let bytes = copy(&path, &opts.out.join(name))?;
            client_bytes += bytes;
            if participant_fetches(&name.to_string_lossy(), participant_checks) {
                participant_client_bytes += bytes;
            }
        }
    }
    if !origins.is_empty() {
        for page in ["index.html", "research.html"] {
            let page = opts.out.join(page);
            if page.is_file() {
                allow_experiment_origins(&page, &origins)?;
            }
        }
    }
    // Models for checks keep their paths (the worker fetches them once per page).
    let mut model_bytes = 0;
    for model in exp.checks.models.values() {
        let target = site_exp.join(&model.file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        model_bytes += copy_inside(&dir, &model.file, &target)?;
    }

    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        files: BTreeMap::new(),
    };
    let mut written = BTreeSet::new();
    let mut stimulus_bytes = 0;
    for (_, rel) in exp.stimulus_files() {
        if manifest.files.contains_key(&rel) {
            continue;
        }
        crate::safe_fs::inside(&dir, &dir.join(&rel))?;
        let bytes = std::fs::read(dir.join(&rel)).map_err(|e| io(&dir.join(&rel), e))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let ext = Path::new(&rel)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("bin");
        let url = format!("s/{sha256}.{ext}");
        if written.insert(url.clone()) {
            std::fs::write(site_exp.join(&url), &bytes).map_err(|e| io(&site_exp.join(&url), e))?;
            stimulus_bytes += bytes.len() as u64;
        }
        manifest.files.insert(
            rel,
            ManifestEntry {
                url,
                sha256,
                bytes: bytes.len() as u64,
            },
        );
    }
    for rel in page_images(&exp) {
        let target = site_exp.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        copy_inside(&dir, &rel, &target)?;
    }
    let exp_text = std::fs::read(dir.join("experiment.json"))
        .map_err(|e| io(&dir.join("experiment.json"), e))?;
    std::fs::write(site_exp.join("experiment.json"), &exp_text).map_err(|e| io(&site_exp, e))?;
    let manifest_text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(site_exp.join("manifest.json"), &manifest_text).map_err(|e| io(&site_exp, e))?;
    let pages_text = serde_json::to_string(&exemplar_core::markdown::render_pages(&exp))?;
    std::fs::write(site_exp.join("pages.json"), &pages_text).map_err(|e| io(&site_exp, e))?;

    // One participant: the client, the experiment, the manifest and one session's images.
    let fixed = participant_client_bytes
        + exp_text.len() as u64
        + manifest_text.len() as u64
        + pages_text.len() as u64
        + if participant_checks { model_bytes } else { 0 };
    let samples: Vec<u64> = (0..50)
        .map(|i| {
            let plan = Plan::for_participant(&exp, &format!("sample-{i}"));
            let images: BTreeSet<&str> = plan
                .blocks
                .iter()
                .flat_map(|b| b.practice.iter().take(1).flatten().chain(&b.main))
                .flat_map(|t| t.images())
                .collect();
            let urls: BTreeSet<&str> = images
                .iter()
                .filter_map(|p| manifest.files.get(*p))
                .map(|e| e.url.as_str())
                .collect();
            fixed
                + urls
                    .iter()
                    .map(|u| {
                        manifest
                            .files
                            .values()
                            .find(|e| e.url == *u)
                            .map_or(0, |e| e.bytes)
                    })
                    .sum::<u64>()
        })
        .collect();
    let per_participant = (
        samples.iter().sum::<u64>() / samples.len() as u64,
        samples.iter().copied().max().unwrap_or(0),
    );
    Ok(Built {
        total_bytes: dir_size(&opts.out),
        client_bytes,
        stimuli: (written.len(), stimulus_bytes),
        per_participant,
    })
}

/// Whether a participant's browser fetches this file of the built client: not the
/// researcher's page, and the engine worker only when participants' browsers run checks.
fn participant_fetches(name: &str, participant_checks: bool) -> bool {
    !(name == "research.html"
        || name.starts_with("exemplar-research")
        || (!participant_checks && name.starts_with("engine_worker")))
}

/// Relative image paths the Markdown pages show.
pub(crate) fn page_images(exp: &Experiment) -> BTreeSet<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    let mut out = BTreeSet::new();
    for text in exp.markdown_texts() {
        for event in Parser::new(text) {
            if let Event::Start(Tag::Image { dest_url, .. }) = event {
                let url = dest_url.to_string();
                if !url.contains(':') && !url.starts_with('/') && !url.split('/').any(|s| s == "..")
                {
                    out.insert(url);
                }
            }
        }
    }
    out
}

/// Lists the other origins `?experiment=` may name in the site's index.html, as the
/// client reads them (`<meta name="exemplar-experiment-origins" content="o1 o2">`).
fn allow_experiment_origins(index: &Path, origins: &[String]) -> Result<(), BuildError> {
    let html = std::fs::read_to_string(index).map_err(|e| io(index, e))?;
    let meta = format!(
        "\n<meta name=\"exemplar-experiment-origins\" content=\"{}\">",
        origins.join(" ")
    );
    let at = html
        .find("<head>")
        .map(|i| i + "<head>".len())
        .ok_or_else(|| BuildError::NoHead(index.to_path_buf()))?;
    let html = format!("{}{meta}{}", &html[..at], &html[at..]);
    std::fs::write(index, html).map_err(|e| io(index, e))
}

fn prepare_out(out: &Path) -> Result<(), BuildError> {
    if out.exists() {
        let previous_build = out.join("experiment/manifest.json").is_file();
        let empty = std::fs::read_dir(out)
            .map_err(|e| io(out, e))?
            .next()
            .is_none();
        if !previous_build && !empty {
            return Err(BuildError::NotABuild(out.to_path_buf()));
        }
        std::fs::remove_dir_all(out).map_err(|e| io(out, e))?;
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))
}

fn copy(from: &Path, to: &Path) -> Result<u64, BuildError> {
    std::fs::copy(from, to).map_err(|source| BuildError::Copy {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// Copies `dir/rel` to `to`, only if it resolves inside `dir` (a symbolic link to a file
/// elsewhere is never copied into a site).
fn copy_inside(dir: &Path, rel: &str, to: &Path) -> Result<u64, BuildError> {
    let from = dir.join(rel);
    crate::safe_fs::inside(dir, &from)?;
    copy(&from, to)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path, source: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}
