//! `exemplar check DIR`: the researcher preview's "Check all", natively. Every batch of
//! every unit whose `model` is in `checks.models` (main, catch and practice units) has its
//! 20 images run through that model up to the unit's layer, and
//! [`exemplar_core::checks::check`] judges them: the same verdict the preview and the
//! participants' browsers reach, computed on the stimulus files as written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use exemplar_core::checks::{self, TrialActivations, Violation};
use exemplar_core::experiment::CheckModel;
use exemplar_core::validate::Problems;
use exemplar_engine::{Backend, Engine, EngineError, LoadOptions, Preprocess};

use crate::exemplars::{decode, EngineOptions};

/// One batch's verdict.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchCheck {
    /// `units[2].batches[1]` and the like.
    pub path: String,
    /// The unit's id.
    pub unit: String,
    pub model: String,
    pub layer: String,
    pub channel: u32,
    pub batch: u32,
    pub activations: TrialActivations,
    /// Empty when the batch passes.
    pub violations: Vec<Violation>,
}

/// What was checked, and what could not be.
#[derive(Debug, Default)]
pub struct Report {
    pub batches: Vec<BatchCheck>,
    /// Units without a model in `checks.models` (their JSON paths).
    pub unchecked: Vec<String>,
}

impl Report {
    /// How many batches fail.
    pub fn failures(&self) -> usize {
        self.batches
            .iter()
            .filter(|b| !b.violations.is_empty())
            .count()
    }
}

/// Why the batches could not be checked (a failing batch is no error: see [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The experiment does not load.
    #[error("{} is not a valid experiment (run `exemplar validate`):\n{problems}", dir.display())]
    Invalid { dir: PathBuf, problems: Problems },
    /// `checks.models` is empty.
    #[error("the experiment names no models (checks.models): nothing to check")]
    NoModels,
    /// A check model's file could not be read.
    #[error("checks.models.{name}.file: cannot read {file}: {source}")]
    ModelFile {
        name: String,
        file: String,
        source: std::io::Error,
    },
    /// A check model's preprocessing is refused.
    #[error("checks.models.{name}: {message}")]
    Preprocess { name: String, message: String },
    /// The engine refused a unit's model or layer (`unit` names both:
    /// `units[0].layer: LAYER in MODEL`).
    #[error("{unit}: {source}")]
    Load { unit: String, source: EngineError },
    /// A batch's images could not be read or decoded.
    #[error("{path}: {message}")]
    Images { path: String, message: String },
    /// The engine failed on a batch.
    #[error("{path}: {source}")]
    Run { path: String, source: EngineError },
}

/// Checks every batch of the experiment in `dir` (folder or experiment.json), models
/// loaded under the default [`LoadOptions`].
pub fn run(dir: &Path, backend: Backend) -> Result<Report, CheckError> {
    run_with(dir, backend, &LoadOptions::default())
}

/// [`run`] with the models loaded under `limits`.
pub fn run_with(dir: &Path, backend: Backend, limits: &LoadOptions) -> Result<Report, CheckError> {
    let exp = exemplar_core::Experiment::load_dir(dir).map_err(|problems| CheckError::Invalid {
        dir: dir.to_path_buf(),
        problems,
    })?;
    let root: PathBuf = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    if exp.checks.models.is_empty() {
        return Err(CheckError::NoModels);
    }
    let mut models: HashMap<&str, (Vec<u8>, Preprocess)> = HashMap::new();
    for (name, model) in &exp.checks.models {
        let bytes =
            std::fs::read(root.join(&model.file)).map_err(|source| CheckError::ModelFile {
                name: name.clone(),
                file: model.file.clone(),
                source,
            })?;
        let pre = preprocess(model).map_err(|message| CheckError::Preprocess {
            name: name.clone(),
            message,
        })?;
        models.insert(name.as_str(), (bytes, pre));
    }
    let mut engines: HashMap<(&str, &str), Engine> = HashMap::new();
    let mut report = Report::default();
    for (group, units) in exp.unit_groups() {
        for (u, unit) in units.iter().enumerate() {
            let Some((bytes, pre)) = models.get(unit.model.as_str()) else {
                report.unchecked.push(format!("{group}[{u}]"));
                continue;
            };
            let key = (unit.model.as_str(), unit.layer.as_str());
            let engine = match engines.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    Engine::new_blocking_with(bytes, &unit.layer, backend, limits).map_err(
                        |source| CheckError::Load {
                            unit: format!("{group}[{u}].layer: {} in {}", unit.layer, unit.model),
                            source,
                        },
                    )?,
                ),
            };
            for (b, batch) in unit.batches.iter().enumerate() {
                let path = format!("{group}[{u}].batches[{b}]");
                let files = exp.batch_files(batch);
                let paths: Vec<PathBuf> = files
                    .min_references
                    .iter()
                    .chain(&files.max_references)
                    .chain([&files.min_query, &files.max_query])
                    .map(|f| root.join(f))
                    .collect();
                let images = decode(&paths, pre).map_err(|message| CheckError::Images {
                    path: path.clone(),
                    message,
                })?;
                let acts: Vec<f32> = engine
                    .activations_blocking(&images, &[unit.channel as usize])
                    .map_err(|source| CheckError::Run {
                        path: path.clone(),
                        source,
                    })?
                    .into_iter()
                    .map(|row| row[0])
                    .collect();
                let activations = TrialActivations {
                    min_references: acts[..9].to_vec(),
                    max_references: acts[9..18].to_vec(),
                    min_query: acts[18],
                    max_query: acts[19],
                };
                report.batches.push(BatchCheck {
                    path,
                    unit: unit.id.clone(),
                    model: unit.model.clone(),
                    layer: unit.layer.clone(),
                    channel: unit.channel,
                    batch: batch.batch,
                    violations: checks::check(&activations),
                    activations,
                });
            }
        }
    }
    Ok(report)
}

/// A check model's preprocessing, as `--preset`, `--resize`… would give it.
fn preprocess(model: &CheckModel) -> Result<Preprocess, String> {
    EngineOptions {
        preset: model.preset.clone(),
        resize: model.resize,
        crop: model.crop,
        mean: model.mean.map(Vec::from),
        std: model.std.map(Vec::from),
        backend: String::new(),
        threads: 0,
        limits: Default::default(),
    }
    .preprocess()
}
