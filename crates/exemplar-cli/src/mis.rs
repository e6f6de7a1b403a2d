//! `exemplar mis DIR --encoder enc.onnx`: the Machine Interpretability Score of every batch
//! of every unit ([`exemplar_core::mis`]), from an image encoder run by the engine.
//!
//! `DIR` is an experiment (its main, catch and practice units, as `exemplar check` walks
//! them) or a stimuli folder `exemplar exemplars` wrote (every folder holding `max_9` and
//! `min_9` is a batch; its parent is the unit). An image's embedding is the channel means of
//! the encoder's output tensor: the tensor itself for `[N, D]`, global average pooling for
//! `[N, C, H, W]`, the mean over tokens for `[N, tokens, D]`. Each distinct image (by its
//! bytes' SHA-256) is embedded once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use exemplar_core::mis::{self, Alpha, TrialEmbeddings, TrialScore};
use exemplar_engine::Engine;

use crate::exemplars::{decode, EngineOptions};

/// Options of `exemplar mis`.
#[derive(clap::Args)]
pub struct MisOptions {
    /// The experiment folder (or its experiment.json), or a stimuli folder written by
    /// `exemplar exemplars`.
    pub dir: PathBuf,
    /// The image encoder (ONNX): DreamSim exported to ONNX is the one the MIS paper used.
    #[arg(long)]
    pub encoder: PathBuf,
    /// The encoder's tensor whose channel means are the embedding (default: the model's
    /// first output).
    #[arg(long)]
    pub output: Option<String>,
    /// σ(α·Δ) per trial; without it, a trial counts 1 when Δ > 0 (the share of trials the
    /// machine gets right).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Rows per unit (the MIS) or per batch (the four similarities, Δ, the prediction).
    #[arg(long, default_value = "unit", value_parser = ["unit", "batch"])]
    pub per: String,
    /// csv or json (json holds both the units and the batches).
    #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
    pub format: String,
    /// Images embedded per engine call.
    #[arg(long, default_value_t = 32)]
    pub chunk: usize,
    #[command(flatten)]
    pub engine: EngineOptions,
}

/// One batch (trial) and the machine's view of it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchMis {
    /// `units[2].batches[1]`, or the batch folder relative to a stimuli folder.
    pub path: String,
    /// The unit's id (a stimuli folder: the unit folder's path).
    pub unit: String,
    pub model: String,
    pub layer: String,
    pub channel: Option<u32>,
    pub batch: u32,
    #[serde(flatten)]
    pub score: TrialScore,
    /// σ(α·Δ), or 1/0 for Δ > 0 without α.
    pub predicted: f64,
}

/// One unit's MIS.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnitMis {
    pub unit: String,
    pub model: String,
    pub layer: String,
    pub channel: Option<u32>,
    pub batches: usize,
    /// The mean predicted probability over the unit's batches.
    pub mis: f64,
    /// The share of its batches with Δ > 0.
    pub share_delta_positive: f64,
}

/// What `exemplar mis` computes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub encoder: String,
    pub output: String,
    pub alpha: Option<f64>,
    pub units: Vec<UnitMis>,
    pub batches: Vec<BatchMis>,
}

/// A trial's images and what it belongs to.
struct Trial {
    path: String,
    unit: String,
    model: String,
    layer: String,
    channel: Option<u32>,
    batch: u32,
    /// `max_0..8`, `min_0..8`, `max_9`, `min_9`.
    max_references: Vec<PathBuf>,
    min_references: Vec<PathBuf>,
    max_query: PathBuf,
    min_query: PathBuf,
}

/// The MIS of every batch of the experiment in `dir` with its own encoder
/// (`checks.encoder`: a model of `checks.models`, with that model's preprocessing).
pub fn with_experiment_encoder(
    dir: &Path,
    backend: &str,
    limits: &crate::exemplars::LimitOptions,
) -> Result<Report, String> {
    let exp = exemplar_core::Experiment::load_dir(dir).map_err(|problems| {
        format!(
            "{} is not a valid experiment (run `exemplar validate`):\n{problems}",
            dir.display()
        )
    })?;
    let encoder = exp.checks.encoder.as_ref().ok_or_else(|| {
        format!(
            "{}: checks.encoder is not set (name a model of checks.models and its \
             embedding tensor)",
            dir.display()
        )
    })?;
    // Validation saw to it that the model is a key of checks.models.
    let model = exp
        .checks
        .models
        .get(&encoder.model)
        .ok_or_else(|| format!("checks.encoder.model: no model {:?}", encoder.model))?;
    let root = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        dir.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    run(&MisOptions {
        dir: dir.to_path_buf(),
        encoder: root.join(&model.file),
        output: Some(encoder.output.clone()),
        alpha: encoder.alpha,
        per: "batch".into(),
        format: "csv".into(),
        chunk: 32,
        engine: EngineOptions {
            preset: model.preset.clone(),
            resize: model.resize,
            crop: model.crop,
            mean: model.mean.map(Vec::from),
            std: model.std.map(Vec::from),
            backend: backend.to_string(),
            threads: 0,
            limits: limits.clone(),
        },
    })
}

/// Computes the MIS of every batch in `opts.dir`.
pub fn run(opts: &MisOptions) -> Result<Report, String> {
    if let Some(a) = opts.alpha {
        if !a.is_finite() || a < 0.0 {
            return Err(format!("--alpha {a}: must be a finite number ≥ 0"));
        }
    }
    let trials = trials(&opts.dir)?;
    if trials.is_empty() {
        return Err(format!("{}: no batches found", opts.dir.display()));
    }
    let bytes = std::fs::read(&opts.encoder)
        .map_err(|e| format!("cannot read encoder {}: {e}", opts.encoder.display()))?;
    let model = exemplar_engine::onnx::decode_model(&bytes)
        .map_err(|e| format!("{}: {e}", opts.encoder.display()))?;
    let output = match &opts.output {
        Some(o) => o.clone(),
        None => model
            .graph
            .as_ref()
            .and_then(|g| g.output.first())
            .map(|o| o.name.clone())
            .ok_or_else(|| {
                format!(
                    "{} declares no output; name one with --output",
                    opts.encoder.display()
                )
            })?,
    };
    let backend = opts.engine.backend()?;
    let gpu = match backend {
        exemplar_engine::Backend::Gpu => {
            Some(exemplar_engine::GpuContext::new_blocking().map_err(|e| e.to_string())?)
        }
        exemplar_engine::Backend::Cpu => None,
    };
    let engine = Engine::from_model_with(
        &model,
        &output,
        gpu.as_ref(),
        &opts.engine.limits.load_options(),
    )
    .map_err(|e| format!("{}: {e}", opts.encoder.display()))?;
    let pre = opts.engine.preprocess()?;

    // Every distinct file once, then every distinct content once.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut seen: HashSet<&Path> = HashSet::new();
    for t in &trials {
        for f in t
            .max_references
            .iter()
            .chain(&t.min_references)
            .chain([&t.max_query, &t.min_query])
        {
            if seen.insert(f) {
                files.push(f.clone());
            }
        }
    }
    let mut by_hash: HashMap<String, usize> = HashMap::new();
    let mut index_of: HashMap<PathBuf, usize> = HashMap::new();
    let mut unique: Vec<PathBuf> = Vec::new();
    for f in &files {
        let data = crate::exemplars::read_image_file(f)?;
        use sha2::Digest;
        let sha = crate::partial::hex(&sha2::Sha256::digest(&data));
        let i = *by_hash.entry(sha).or_insert_with(|| {
            unique.push(f.clone());
            unique.len() - 1
        });
        index_of.insert(f.clone(), i);
    }
    let mut embeddings: Vec<Vec<f32>> = Vec::with_capacity(unique.len());
    let mut width = None;
    for chunk in unique.chunks(opts.chunk.max(1)) {
        let images = decode(chunk, &pre)?;
        let shape = images[0].shape.clone();
        let mut input = vec![1];
        input.extend(&shape);
        let d = *width.get_or_insert(
            engine
                .channels(&input)
                .map_err(|e| format!("{}: tensor {output}: {e}", opts.encoder.display()))?,
        );
        let all: Vec<usize> = (0..d).collect();
        embeddings.extend(
            engine
                .activations_blocking(&images, &all)
                .map_err(|e| e.to_string())?,
        );
    }
    let embedding = |p: &PathBuf| embeddings[index_of[p]].as_slice();

    let alpha = opts.alpha.map_or(Alpha::None, Alpha::Value);
    let mut batches = Vec::with_capacity(trials.len());
    for t in &trials {
        let max_refs: Vec<&[f32]> = t.max_references.iter().map(embedding).collect();
        let min_refs: Vec<&[f32]> = t.min_references.iter().map(embedding).collect();
        let score = mis::score_trial(&TrialEmbeddings {
            max_references: &max_refs,
            min_references: &min_refs,
            max_query: embedding(&t.max_query),
            min_query: embedding(&t.min_query),
        })
        .map_err(|e| format!("{}: {e}", t.path))?;
        batches.push(BatchMis {
            path: t.path.clone(),
            unit: t.unit.clone(),
            model: t.model.clone(),
            layer: t.layer.clone(),
            channel: t.channel,
            batch: t.batch,
            predicted: mis::predicted(score.delta, alpha),
            score,
        });
    }
    // Units in order of first appearance.
    let mut units: Vec<UnitMis> = Vec::new();
    let mut deltas: Vec<Vec<f64>> = Vec::new();
    let mut unit_index: HashMap<&str, usize> = HashMap::new();
    for b in &batches {
        let i = *unit_index.entry(b.unit.as_str()).or_insert_with(|| {
            units.push(UnitMis {
                unit: b.unit.clone(),
                model: b.model.clone(),
                layer: b.layer.clone(),
                channel: b.channel,
                batches: 0,
                mis: 0.0,
                share_delta_positive: 0.0,
            });
            deltas.push(Vec::new());
            units.len() - 1
        });
        deltas[i].push(b.score.delta);
    }
    for (u, d) in units.iter_mut().zip(&deltas) {
        u.batches = d.len();
        u.mis = mis::unit_score(d, alpha).unwrap_or(f64::NAN);
        u.share_delta_positive = mis::unit_score(d, Alpha::None).unwrap_or(f64::NAN);
    }
    Ok(Report {
        encoder: opts.encoder.display().to_string(),
        output,
        alpha: opts.alpha,
        units,
        batches,
    })
}

/// The trials of an experiment, or of a stimuli folder.
fn trials(dir: &Path) -> Result<Vec<Trial>, String> {
    let is_experiment = dir.is_file() || dir.join("experiment.json").is_file();
    if is_experiment {
        let exp = exemplar_core::Experiment::load_dir(dir).map_err(|problems| {
            format!(
                "{} is not a valid experiment (run `exemplar validate`):\n{problems}",
                dir.display()
            )
        })?;
        let root = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            dir.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let mut out = Vec::new();
        for (group, units) in exp.unit_groups() {
            for (u, unit) in units.iter().enumerate() {
                for (b, batch) in unit.batches.iter().enumerate() {
                    let files = exp.batch_files(batch);
                    let at = |f: &String| root.join(f);
                    out.push(Trial {
                        path: format!("{group}[{u}].batches[{b}]"),
                        unit: unit.id.clone(),
                        model: unit.model.clone(),
                        layer: unit.layer.clone(),
                        channel: Some(unit.channel),
                        batch: batch.batch,
                        max_references: files.max_references.iter().map(at).collect(),
                        min_references: files.min_references.iter().map(at).collect(),
                        max_query: at(&files.max_query),
                        min_query: at(&files.min_query),
                    });
                }
            }
        }
        return Ok(out);
    }
    stimuli_folder(dir)
}

/// Every batch folder (holding `max_9` and `min_9`, PNG or JPEG) under `root`, in path order.
fn stimuli_folder(root: &Path) -> Result<Vec<Trial>, String> {
    let walked = crate::safe_fs::walk(root, "exemplar mis").map_err(|e| e.to_string())?;
    let mut dirs: Vec<(PathBuf, &'static str)> = Vec::new();
    for f in &walked.files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        for ext in ["png", "jpg"] {
            if name == format!("max_9.{ext}") {
                if let Some(d) = f.parent() {
                    dirs.push((d.to_path_buf(), ext));
                }
            }
        }
    }
    dirs.sort();
    let mut out = Vec::new();
    for (dir, ext) in dirs {
        let file = |side: &str, i: usize| dir.join(format!("{side}_{i}.{ext}"));
        let needed: Vec<PathBuf> = (0..10)
            .flat_map(|i| [file("max", i), file("min", i)])
            .collect();
        if let Some(missing) = needed.iter().find(|p| !p.is_file()) {
            return Err(format!(
                "{}: a batch folder without {}",
                dir.display(),
                missing.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        };
        let unit_dir = dir.parent().unwrap_or(root);
        out.push(Trial {
            path: rel(&dir),
            unit: rel(unit_dir),
            model: String::new(),
            layer: String::new(),
            channel: None,
            batch: dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            max_references: (0..9).map(|i| file("max", i)).collect(),
            min_references: (0..9).map(|i| file("min", i)).collect(),
            max_query: file("max", 9),
            min_query: file("min", 9),
        });
    }
    Ok(out)
}
