//! `exemplar exemplars`: a unit's stimuli chosen from a folder of images as the paradigm
//! does (`exemplar sample-units`, which units to study, is in [`crate::sample_units`]).
//!
//! `exemplars` computes the activations of one or more channels of one layer (or, with
//! `--units`, of units of several layers: one forward pass per chunk up to the deepest
//! layer) over every PNG or JPEG under `--images` (recursively, in path order, in chunks
//! with progress on stderr), then leaves the choice to [`exemplar_core::selection`] (ranks,
//! percentiles, fair batches) and writes, for each channel:
//!
//! ```text
//! OUT/<layer>/channel_<c>/<batch>/{min,max}_{0..9}.png   the batch layout experiments use
//!                                                        (`.jpg` with `--format jpeg`)
//! OUT/<layer>/channel_<c>/activations.csv                image, activation, rank, stimulus
//! OUT/<layer>/channel_<c>/unit.json                      the `units` entry for experiment.json
//! ```
//!
//! (`<layer>` with characters other than letters, digits, `.`, `_` and `-` replaced by
//! `_`.) The entries' paths are relative to `--experiment`, by default the folder holding
//! `OUT`; all entries are also printed on stdout as one JSON array.
//!
//! Stimuli are written as PNG, or as JPEG with `--format jpeg` (set the experiment's
//! `loading.extension` to `jpg` then). By default they are what the model saw: the
//! preprocessing's resize and centre crop (224×224 with the presets, as in the paper),
//! without normalisation. `--size N` resizes the shorter side to N and crops the centre
//! N×N instead (the same filter); `--size 0` keeps the original pixels. A source that is
//! already the stimulus (same size, nothing to crop, the output's format) is copied byte
//! for byte, so participants see exactly the pixels whose activations were ranked; any
//! other is re-encoded, and a lossy JPEG re-encoding is then not exactly what was ranked
//! (`exemplar check` measures the stimuli as written).

mod inputs;
mod stimuli;

use std::path::{Path, PathBuf};

use exemplar_core::experiment::Unit;
use exemplar_core::selection::{self, Queries, Spec, PAPER_BATCHES};
use exemplar_engine::{Engine, Preprocess, Tensor};

pub use self::inputs::LayerUnits;
use self::inputs::{by_layer, external, requested_units};
pub(crate) use self::stimuli::read_image_file;
use self::stimuli::{folder_name, refuse_filled, select_and_write};
pub use crate::engine_options::{EngineOptions, LimitOptions};
use crate::partial;
use crate::progress::Progress;

/// Options of `exemplar exemplars`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExemplarsOptions {
    /// `merge`: select from the shards of a run split with `--shard`.
    #[command(subcommand)]
    pub command: Option<ExemplarsCommand>,
    /// The ONNX model (not with `--activations`).
    #[arg(long, required_unless_present = "activations")]
    pub model: Option<PathBuf>,
    /// The target tensor's name in the graph.
    #[arg(long, required_unless_present = "units")]
    pub layer: Option<String>,
    /// A channel of the target (repeatable; all are computed in one pass). With
    /// `--activations`, the units of its columns, in order.
    #[arg(long = "channel", required_unless_present = "units")]
    pub channels: Vec<usize>,
    /// Units of several layers, all computed in one pass over the images (one forward pass
    /// per chunk up to the deepest layer): what `exemplar sample-units` prints, one JSON
    /// object `{"layer": …, "channel": …}` a line. With `--activations`, the units of its
    /// columns, in the file's order.
    #[arg(long, conflicts_with_all = ["layer", "channels"])]
    pub units: Option<PathBuf>,
    /// Compute only slice K of N of the images (in path order; K from 0) and write it to
    /// OUT/partials/<layer>/ for `exemplar exemplars merge`. Inside a Slurm array job,
    /// taken from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT when not given.
    #[arg(long)]
    pub shard: Option<String>,
    /// Activations computed elsewhere, instead of a model: a NumPy .npy of images × units
    /// (float32 or float64; the images, one path relative to --images per line, in FILE
    /// with the extension .txt, or --image-list) or a CSV with a header `image,<channel>,…`.
    #[arg(long)]
    pub activations: Option<PathBuf>,
    /// The images of an .npy's rows (default: the .npy's path with the extension .txt).
    #[arg(long, requires = "activations")]
    pub image_list: Option<PathBuf>,
    /// Images decoded and run per engine call.
    #[arg(long, default_value_t = 64)]
    pub chunk: usize,
    /// The `model` of the unit entries (default: the model file's name without extension,
    /// or "model" with --activations).
    #[arg(long)]
    pub model_name: Option<String>,
    /// What is chosen and written (absent only with `merge`, which has its own).
    #[command(flatten)]
    pub select: Option<SelectOptions>,
    #[command(flatten)]
    pub engine: EngineOptions,
}

/// `exemplar exemplars merge`.
#[derive(clap::Subcommand)]
pub enum ExemplarsCommand {
    /// Select the stimuli from every shard of a run split with `--shard K/N` (the folder
    /// OUT/partials/<layer>/ they wrote): the same stimuli, byte for byte, as one run.
    Merge(MergeOptions),
}

/// Options of `exemplar exemplars merge`.
#[derive(clap::Args)]
pub struct MergeOptions {
    /// The shards' folders (OUT/partials/<layer>/ of the shard runs), one per layer.
    #[arg(required = true)]
    pub partials: Vec<PathBuf>,
    #[command(flatten)]
    pub select: SelectOptions,
}

/// What is chosen and written, the same for a run, a merge and `--activations`.
#[derive(clap::Args, Clone)]
pub struct SelectOptions {
    /// The folder of images (PNG or JPEG, searched recursively).
    #[arg(long)]
    pub images: PathBuf,
    /// Where the stimuli go (OUT/<layer>/channel_<c>/<batch>/).
    #[arg(long)]
    pub out: PathBuf,
    /// Batches per unit; each side needs 10 images per batch (the paper: 20).
    #[arg(long, default_value_t = PAPER_BATCHES)]
    pub batches: usize,
    /// Queries from this rank on, counted from each end (1 = most extreme); default: the
    /// ranks right after the references.
    #[arg(long, conflicts_with = "query_percentile")]
    pub query_rank: Option<usize>,
    /// Queries around this percentile from each end: 1 (1st/99th), 5 (5th/95th), 15 (15th/85th).
    #[arg(long)]
    pub query_percentile: Option<f64>,
    /// Seed of the fair batches' shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stimulus size: absent, what the model saw (the preprocessing's resize and crop);
    /// N, shorter side resized to N and centre cropped N×N; 0, the original pixels.
    #[arg(long)]
    pub size: Option<u32>,
    /// File format of the stimuli written: png, or jpeg (`.jpg`).
    #[arg(long, default_value = "png", value_parser = ["png", "jpeg"])]
    pub format: String,
    /// JPEG quality (1–100) when a stimulus has to be encoded as JPEG.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// The experiment folder the entries' paths are relative to (default: OUT's parent).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
}

impl SelectOptions {
    fn spec(&self) -> Spec {
        Spec {
            batches: self.batches,
            queries: match (self.query_rank, self.query_percentile) {
                (Some(r), _) => Queries::Rank(r),
                (None, Some(p)) => Queries::Percentile(p),
                (None, None) => Queries::Next,
            },
        }
    }
}

/// What a run did.
pub enum Outcome {
    /// Stimuli were chosen and written: the unit entries.
    Units(Vec<Unit>),
    /// One shard was computed (`--shard`), into these folders (one per layer).
    Shard {
        /// The shard.
        shard: usize,
        /// Of this many.
        shards: usize,
        /// Its folders (what `merge` takes).
        dirs: Vec<PathBuf>,
    },
}

/// Runs `exemplar exemplars` (its `merge` too); returns what was done.
pub fn run(opts: &ExemplarsOptions) -> Result<Outcome, String> {
    if let Some(ExemplarsCommand::Merge(m)) = &opts.command {
        let mut units = Vec::new();
        // One layer at a time: memory holds one layer's activations.
        for dir in &m.partials {
            let merged = partial::merge(dir, None)?;
            let pre = Preprocess::from(&merged.meta.preprocess);
            units.extend(select_and_write(
                &m.select,
                &merged.meta.layer,
                &merged.meta.channels,
                &merged.meta.model_name,
                &pre,
                &merged.images,
                &merged.values,
            )?);
        }
        return Ok(Outcome::Units(units));
    }
    let units = requested_units(opts)?;
    let layers = by_layer(opts, &units)?;
    let select = opts
        .select
        .as_ref()
        .ok_or("--images and --out are required")?;
    let pre = opts.engine.preprocess()?;
    let shard = partial::shard_of(opts.shard.as_deref())?;
    if let Some(file) = &opts.activations {
        if shard.is_some() {
            return Err("--shard splits a model's run; --activations were computed already".into());
        }
        let (images, values) = external(
            file,
            opts.image_list.as_deref(),
            &units,
            &layers,
            opts.units.is_some(),
            &select.images,
        )?;
        let name = opts.model_name.clone().unwrap_or_else(|| "model".into());
        for (layer, channels) in &layers {
            refuse_filled(&select.out, layer, channels)?;
        }
        let mut units = Vec::new();
        let mut column = 0;
        for (layer, channels) in &layers {
            let cols = &values[column..column + channels.len()];
            column += channels.len();
            units.extend(select_and_write(
                select, layer, channels, &name, &pre, &images, cols,
            )?);
        }
        return Ok(Outcome::Units(units));
    }
    let model = opts
        .model
        .as_ref()
        .ok_or("--model is required (or --activations)")?;
    let files = image_files(&select.images)?;
    let (k, n) = shard.unwrap_or((0, 1));
    if shard.is_none() {
        // Refuse before hours of computing.
        selection::side_ranks(files.len(), &select.spec())
            .map_err(|e| format!("{}: {e}", select.images.display()))?;
        for (layer, channels) in &layers {
            refuse_filled(&select.out, layer, channels)?;
        }
    }
    let rel: Vec<String> = files
        .iter()
        .map(|f| relative_path(&select.images, f))
        .collect::<Result<_, _>>()?;
    let bytes =
        std::fs::read(model).map_err(|e| format!("cannot read model {}: {e}", model.display()))?;
    let model_name = opts.model_name.clone().unwrap_or_else(|| {
        model
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned())
    });
    let model_sha256 = {
        use sha2::Digest;
        partial::hex(&sha2::Sha256::digest(&bytes))
    };
    let list_sha256 = partial::list_sha256(rel.iter().map(String::as_str));
    // Each layer's shard is kept in its own folder, as a one-layer run keeps it.
    let dirs: Vec<PathBuf> = layers
        .iter()
        .map(|(layer, _)| select.out.join("partials").join(folder_name(layer)))
        .collect();
    let mut writers = Vec::new();
    for ((layer, channels), dir) in layers.iter().zip(&dirs) {
        let meta = partial::Meta {
            format: partial::PARTIAL_FORMAT.into(),
            layer: layer.clone(),
            channels: channels.clone(),
            model_name: model_name.clone(),
            model_sha256: model_sha256.clone(),
            preprocess: (&pre).into(),
            backend: opts.engine.backend.clone(),
            images: files.len(),
            list_sha256: list_sha256.clone(),
            shard: k,
            shards: n,
        };
        match partial::Writer::open(dir, &meta)? {
            Some(w) => writers.push((layer.as_str(), channels.as_slice(), w)),
            None => eprintln!(
                "exemplar exemplars: {} was computed already",
                partial::ShardFiles::new(dir, k, n).npy.display()
            ),
        }
    }
    if !writers.is_empty() {
        compute(
            opts,
            &bytes,
            model,
            &files,
            &rel,
            &pre,
            (k, n),
            &mut writers,
        )?;
        for (_, _, w) in writers {
            w.finish()?;
        }
    }
    if shard.is_some() {
        return Ok(Outcome::Shard {
            shard: k,
            shards: n,
            dirs,
        });
    }
    let mut units = Vec::new();
    for ((layer, channels), dir) in layers.iter().zip(&dirs) {
        let merged = partial::merge(dir, Some(1))?;
        units.extend(select_and_write(
            select,
            layer,
            channels,
            &model_name,
            &pre,
            &merged.images,
            &merged.values,
        )?);
    }
    // A whole run's partials were its checkpoint: the activations are in each channel's
    // activations.csv now.
    for dir in &dirs {
        partial::remove(dir, 0, 1);
    }
    Ok(Outcome::Units(units))
}

/// Computes the unfinished layers of shard `k` of `n` in one pass over its images: one
/// forward pass per chunk up to the deepest layer, each layer's channels appended to its
/// shard. Layers a killed run left at different counts go on from the fewest.
#[allow(clippy::too_many_arguments)]
fn compute(
    opts: &ExemplarsOptions,
    bytes: &[u8],
    model: &Path,
    files: &[PathBuf],
    rel: &[String],
    pre: &Preprocess,
    (k, n): (usize, usize),
    writers: &mut [(&str, &[usize], partial::Writer)],
) -> Result<(), String> {
    let done = writers.iter().map(|(_, _, w)| w.done).min().unwrap_or(0);
    for (_, _, w) in writers.iter_mut() {
        w.cut_to(done)?;
    }
    let targets: Vec<&str> = writers.iter().map(|(l, _, _)| *l).collect();
    let lists: Vec<&[usize]> = writers.iter().map(|(_, c, _)| *c).collect();
    let engine = Engine::new_targets_blocking(
        bytes,
        &targets,
        opts.engine.backend()?,
        &opts.engine.limits.load_options(),
    )
    .map_err(|e| format!("{}: {e}", model.display()))?;
    let (lo, hi) = partial::slice(files.len(), k, n);
    let mut progress = Progress::new(hi - lo, done);
    let chunk = opts.chunk.max(1);
    // The next chunk is decoded (on every core) while the engine runs this one; at most
    // two chunks of decoded images are held.
    let start = lo + done;
    std::thread::scope(|scope| -> Result<(), String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            let mut at = start;
            while at < hi {
                let end = (at + chunk).min(hi);
                let decoded = decode_hashed(&files[at..end], pre).map(|d| (at, end, d));
                let failed = decoded.is_err();
                // A closed channel: the engine side stopped on an error.
                if tx.send(decoded).is_err() || failed {
                    break;
                }
                at = end;
            }
        });
        for decoded in rx {
            let (at, end, (images, hashes)) = decoded?;
            let rows = engine
                .activations_of_blocking(&images, &lists)
                .map_err(|e| e.to_string())?;
            let done: Vec<(String, String)> = rel[at..end].iter().cloned().zip(hashes).collect();
            // Each layer's columns, in the order the engine gives them.
            let mut column = 0;
            for (_, channels, w) in writers.iter_mut() {
                let part: Vec<Vec<f32>> = rows
                    .iter()
                    .map(|r| r[column..column + channels.len()].to_vec())
                    .collect();
                column += channels.len();
                w.append(&done, &part)?;
            }
            progress.advance(end - at);
        }
        Ok(())
    })
}

/// `file`'s path under `root`, with `/` between its parts.
fn relative_path(root: &Path, file: &Path) -> Result<String, String> {
    let rel = file
        .strip_prefix(root)
        .map_err(|_| format!("{} is not under {}", file.display(), root.display()))?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

/// Every PNG and JPEG under `root`, in path order (symbolic links leaving `root`, and
/// loops, skipped with a note: [`crate::safe_fs::walk`]).
fn image_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let out: Vec<PathBuf> = crate::safe_fs::walk(root, "exemplar exemplars")
        .map_err(|e| e.to_string())?
        .files
        .into_iter()
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    if out.is_empty() {
        return Err(format!("no PNG or JPEG images under {}", root.display()));
    }
    // A run's image list is text, one path a line after a tab: refuse, before any computing,
    // a name it cannot hold.
    if let Some(bad) = out.iter().find(|p| {
        p.strip_prefix(root)
            .ok()
            .and_then(|r| r.to_str())
            .is_none_or(|r| r.contains(['\n', '\r', '\t']))
    }) {
        return Err(format!(
            "{}: a file name that is not UTF-8 or holds a line break or tab; rename it",
            bad.display()
        ));
    }
    Ok(out)
}

/// `each` of `files` on every core, in order (decoding, not the engine, bounds a large
/// folder).
fn on_every_core<T: Send>(
    files: &[PathBuf],
    each: impl Fn(&Path) -> Result<T, String> + Sync,
) -> Result<Vec<T>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = files.len().div_ceil(threads).max(1);
    let each = &each;
    std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|p| each(p))
                        .collect::<Result<Vec<T>, String>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(files.len());
        for part in parts {
            out.extend(part.join().map_err(|_| "an image decoder panicked")??);
        }
        Ok(out)
    })
}

/// Decodes and preprocesses on every core, and hashes each file's bytes (SHA-256, hex).
fn decode_hashed(
    files: &[PathBuf],
    pre: &Preprocess,
) -> Result<(Vec<Tensor>, Vec<String>), String> {
    use sha2::Digest;
    let decoded = on_every_core(files, |p| {
        let bytes = read_image_file(p)?;
        let sha = partial::hex(&sha2::Sha256::digest(&bytes));
        let (rgb, w, h) = exemplar_engine::decode_image_bytes(
            &bytes,
            &p.display().to_string(),
            &exemplar_engine::ImageLimits::default(),
        )
        .map_err(|e| e.to_string())?;
        let t = pre
            .apply(&rgb, w, h)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok((t, sha))
    })?;
    Ok(decoded.into_iter().unzip())
}

/// Decodes and preprocesses on every core.
pub(crate) fn decode(files: &[PathBuf], pre: &Preprocess) -> Result<Vec<Tensor>, String> {
    on_every_core(files, |p| {
        let (rgb, w, h) = exemplar_engine::decode_image(p).map_err(|e| e.to_string())?;
        pre.apply(&rgb, w, h)
            .map_err(|e| format!("{}: {e}", p.display()))
    })
}

pub use crate::sample_units::{sample_units, Architecture, SampleOptions};
