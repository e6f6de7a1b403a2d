//! `exemplar import-imi PATH… --out DIR`: the IMI study's released stimulus layouts as an
//! experiment.
//!
//! - `<layer>/channel_<c>/natural_images/{min,max}_{0..9}.png` (and `optimized_images/`
//!   beside it) is already the paradigm's batch layout: each becomes a unit with one batch
//!   (`--mode natural`, `optimized` or `both`; optimized references keep the natural
//!   queries, as in the study's synthetic condition).
//! - `trials/trial_<k>/references/{min,max}_*.png` with `queries/{min,max}.png` (the
//!   release's practice trials) becomes practice trials. Its references are numbered
//!   differently per side (`max_0..8`, `min_1..9`, or `0..9`); the nine lowest-numbered of
//!   each side are kept, renumbered `0..8` in order, so the highest-numbered is shown
//!   first as the most extreme.
//!
//! Images are copied into `DIR/stimuli/`; `DIR/experiment.json` gets the defaults of the
//! paradigm and is validated before the command returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use exemplar_core::experiment::{
    Batch, Collect, Condition, Design, Group, Mode, Order, Practice, References, SessionDesign,
    Unit,
};
use exemplar_core::validate::Problems;
use exemplar_core::Experiment;

use crate::safe_fs::FsError;

/// Options of `exemplar import-imi`.
#[derive(clap::Args)]
pub struct ImportOptions {
    /// Folders of the release (searched recursively for both layouts).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The experiment folder to write (must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// The model the units belong to.
    #[arg(long, default_value = "googlenet")]
    pub model: String,
    /// Which references: natural (dataset exemplars), optimized (feature visualisations), both.
    #[arg(long, default_value = "natural", value_parser = ["natural", "optimized", "both"])]
    pub mode: String,
}

/// Why the release was not imported (or only in part).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The output folder could not be read.
    #[error(transparent)]
    Out(std::io::Error),
    /// The output folder holds something already.
    #[error("{} exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// A given path could not be walked.
    #[error(transparent)]
    Walk(FsError),
    /// No unit folder anywhere under the paths.
    #[error("no `<layer>/channel_<c>/natural_images/` folder found under the given paths")]
    NoUnits,
    /// A folder that could not be read or created.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A practice trial with fewer than 9 references on a side.
    #[error("{}: {count} {side} references, 9 needed", references.display())]
    TooFewReferences {
        references: PathBuf,
        count: usize,
        side: &'static str,
    },
    /// A file of the release that resolves outside it (or does not resolve).
    #[error("cannot copy {0}")]
    Outside(FsError),
    /// A file that could not be copied.
    #[error("cannot copy {}: {source}", from.display())]
    Copy {
        from: PathBuf,
        source: std::io::Error,
    },
    /// The experiment could not be serialized.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The experiment written does not load (a bug of the import).
    #[error("the imported experiment does not validate:\n{0}")]
    Invalid(Problems),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Imports; returns the experiment written.
pub fn run(opts: &ImportOptions) -> Result<Experiment, ImportError> {
    if opts.out.exists()
        && std::fs::read_dir(&opts.out)
            .map_err(ImportError::Out)?
            .next()
            .is_some()
    {
        return Err(ImportError::NotEmpty(opts.out.clone()));
    }
    let mut units = Vec::new();
    let mut practice = Vec::new();
    for root in &opts.paths {
        let copy = |from: &Path, to: &Path| copy(root, from, to);
        let walked =
            crate::safe_fs::walk(root, "exemplar import-imi").map_err(ImportError::Walk)?;
        for dir in walked.dirs {
            let name = |p: &Path| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string()
            };
            if name(&dir) == "natural_images" {
                let channel_dir = dir.parent().unwrap_or(&dir);
                let Some(channel) = name(channel_dir)
                    .strip_prefix("channel_")
                    .and_then(|c| c.parse::<u32>().ok())
                else {
                    continue;
                };
                let layer = channel_dir.parent().map(name).unwrap_or_default();
                let at = format!("stimuli/{layer}/channel_{channel}");
                let optimized = channel_dir.join("optimized_images");
                let want_natural = opts.mode != "optimized";
                let want_optimized = opts.mode != "natural" && optimized.is_dir();
                copy_batch(&copy, &dir, &opts.out.join(&at).join("natural"), 10)?;
                if want_natural {
                    units.push(unit(
                        &format!("{layer}/{channel}"),
                        &opts.model,
                        &layer,
                        channel,
                        Mode::Natural,
                        &format!("{at}/natural"),
                        None,
                    ));
                }
                if want_optimized {
                    // References only: the synthetic condition's queries are natural images.
                    copy_batch(&copy, &optimized, &opts.out.join(&at).join("optimized"), 9)?;
                    let refs = format!("{at}/optimized");
                    let id = format!("{layer}/{channel}/optimized");
                    units.push(unit(
                        &id,
                        &opts.model,
                        &layer,
                        channel,
                        Mode::Optimized,
                        &refs,
                        Some(format!("{at}/natural")),
                    ));
                }
            } else if name(&dir).starts_with("trial_")
                && dir.join("references").is_dir()
                && dir.join("queries").is_dir()
            {
                let task = dir
                    .parent()
                    .and_then(Path::parent)
                    .map(name)
                    .unwrap_or_default();
                let at = format!("stimuli/practice/{task}/{}", name(&dir));
                copy_practice(&copy, &dir, &opts.out.join(&at))?;
                let id = format!("practice/{task}/{}", name(&dir));
                practice.push(unit(
                    &id,
                    &opts.model,
                    "practice",
                    0,
                    Mode::Natural,
                    &at,
                    None,
                ));
            }
        }
    }
    if units.is_empty() {
        return Err(ImportError::NoUnits);
    }
    units.sort_by(|a, b| a.id.cmp(&b.id));
    practice.sort_by(|a, b| a.id.cmp(&b.id));
    let main_trials = units.len().min(40) as u32;
    let (conditions, design) = imi_design(&units);
    let exp = Experiment {
        schema: None,
        id: "imi-import".into(),
        version: "1".into(),
        title: "Which image fits the examples better?".into(),
        language: "en".into(),
        texts: Default::default(),
        pages: Default::default(),
        practice: Practice {
            max_attempts: 3,
            trials: practice,
        },
        units,
        catch_units: Vec::new(),
        session: SessionDesign {
            main_trials,
            catch_trials: 0,
            draw: Default::default(),
        },
        conditions,
        design,
        timing: Default::default(),
        confidence_levels: 3,
        display: Default::default(),
        loading: Default::default(),
        collect: Collect::Download {},
        delivery: Default::default(),
        completion: Default::default(),
        checks: Default::default(),
        // No catch trials, and up to 40 main trials: the original thresholds fit to that.
        analysis: exemplar_core::experiment::Analysis {
            exclusion: exemplar_core::experiment::Exclusion::scaled(main_trials, 0, 3),
        },
    };
    let text = serde_json::to_string_pretty(&exp)? + "\n";
    std::fs::write(opts.out.join("experiment.json"), text).map_err(io_error(&opts.out))?;
    Experiment::load_dir(&opts.out).map_err(ImportError::Invalid)
}

/// The study's between-participants design: one group per kind of references found, each
/// a single block of its condition, up to 40 main trials (balanced by participant id, or
/// named by `?condition=`). The optimized condition gets the study's extra instruction
/// page. A release of one kind gets no design (today's single condition).
fn imi_design(units: &[Unit]) -> (BTreeMap<String, Condition>, Option<Design>) {
    let mut conditions = BTreeMap::new();
    for (mode, references, name) in [
        (Mode::Natural, References::Natural, "natural"),
        (Mode::Optimized, References::Optimized, "optimized"),
    ] {
        let n = units.iter().filter(|u| u.mode == mode).count() as u32;
        if n == 0 {
            continue;
        }
        let instructions = if mode == Mode::Optimized {
            vec![OPTIMIZED_PAGE.to_string()]
        } else {
            Vec::new()
        };
        conditions.insert(
            name.to_string(),
            Condition {
                references,
                instructions,
                main_trials: Some(n.min(40)),
                ..Condition::default()
            },
        );
    }
    if conditions.len() < 2 {
        return (BTreeMap::new(), None);
    }
    let groups = conditions
        .keys()
        .map(|name| Group {
            name: name.clone(),
            blocks: vec![name.clone()],
            order: Order::Fixed,
            fixed_first: 0,
            fixed_last: 0,
        })
        .collect();
    (conditions, Some(Design { groups }))
}

/// The extra instruction page of the study's synthetic condition.
const OPTIMIZED_PAGE: &str = "## The example images\n\nIn this part the example images are \
    synthetic: a computer made them to show what the feature looks like. In each group, the \
    **first image (top left) is special**: it shows the feature most strongly. The two \
    images in the center are ordinary photographs.";

fn unit(
    id: &str,
    model: &str,
    layer: &str,
    channel: u32,
    mode: Mode,
    references: &str,
    queries: Option<String>,
) -> Unit {
    Unit {
        id: id.into(),
        model: model.into(),
        layer: layer.into(),
        channel,
        mode,
        batches: vec![Batch {
            batch: 0,
            references: references.into(),
            queries,
        }],
    }
}

/// Copies `{min,max}_{0..count-1}.png` (already the paradigm's layout).
fn copy_batch(
    copy: &dyn Fn(&Path, &Path) -> Result<(), ImportError>,
    from: &Path,
    to: &Path,
    count: usize,
) -> Result<(), ImportError> {
    std::fs::create_dir_all(to).map_err(io_error(to))?;
    for side in ["min", "max"] {
        for i in 0..count {
            let name = format!("{side}_{i}.png");
            copy(&from.join(&name), &to.join(&name))?;
        }
    }
    Ok(())
}

/// The older practice layout → `{min,max}_{0..9}.png`.
fn copy_practice(
    copy: &dyn Fn(&Path, &Path) -> Result<(), ImportError>,
    trial: &Path,
    to: &Path,
) -> Result<(), ImportError> {
    std::fs::create_dir_all(to).map_err(io_error(to))?;
    for side in ["min", "max"] {
        let mut numbers: Vec<u32> = std::fs::read_dir(trial.join("references"))
            .map_err(io_error(trial))?
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix(&format!("{side}_"))?
                    .strip_suffix(".png")?
                    .parse()
                    .ok()
            })
            .collect();
        numbers.sort();
        if numbers.len() < 9 {
            return Err(ImportError::TooFewReferences {
                references: trial.join("references"),
                count: numbers.len(),
                side,
            });
        }
        for (i, n) in numbers.iter().take(9).enumerate() {
            copy(
                &trial.join("references").join(format!("{side}_{n}.png")),
                &to.join(format!("{side}_{i}.png")),
            )?;
        }
        copy(
            &trial.join("queries").join(format!("{side}.png")),
            &to.join(format!("{side}_9.png")),
        )?;
    }
    Ok(())
}

/// Copies a file of the release under `root`; one that resolves outside `root` (a
/// symbolic link elsewhere) is refused.
fn copy(root: &Path, from: &Path, to: &Path) -> Result<(), ImportError> {
    crate::safe_fs::inside(root, from).map_err(ImportError::Outside)?;
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|source| ImportError::Copy {
            from: from.to_path_buf(),
            source,
        })
}
