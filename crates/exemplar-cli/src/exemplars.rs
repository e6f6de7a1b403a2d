//! `exemplar exemplars`: a unit's stimuli chosen from a folder of images as the paradigm
//! does (`exemplar sample-units`, which units to study, is in [`crate::sample_units`]).
//!
//! `exemplars` computes the activations of one or more channels of one layer over every
//! PNG or JPEG under `--images` (recursively, in path order, in chunks with progress on
//! stderr), then leaves the choice to [`exemplar_core::selection`] (ranks, percentiles,
//! fair batches) and writes, for each channel:
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use exemplar_core::experiment::{Batch, Mode, Unit};
use exemplar_core::selection::{self, Queries, SelectedBatch, Spec, PAPER_BATCHES};
use exemplar_engine::{Engine, Preprocess, Tensor};

pub use crate::engine_options::{EngineOptions, LimitOptions};
use crate::progress::Progress;
use crate::{npy, partial};

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
    #[arg(long, required = true)]
    pub layer: Option<String>,
    /// A channel of the target (repeatable; all are computed in one pass). With
    /// `--activations`, the units of its columns, in order.
    #[arg(long = "channel", required = true)]
    pub channels: Vec<usize>,
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
    /// The shards' folder (OUT/partials/<layer>/ of the shard runs).
    pub partials: PathBuf,
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
    /// One shard was computed (`--shard`), into this folder.
    Shard {
        /// The shard.
        shard: usize,
        /// Of this many.
        shards: usize,
        /// Its folder (what `merge` takes).
        dir: PathBuf,
    },
}

/// The largest image file read (a hostile "image" of many gigabytes is refused unread).
const MAX_IMAGE_FILE_BYTES: u64 = 512 << 20;

/// Runs `exemplar exemplars` (its `merge` too); returns what was done.
pub fn run(opts: &ExemplarsOptions) -> Result<Outcome, String> {
    if let Some(ExemplarsCommand::Merge(m)) = &opts.command {
        let merged = partial::merge(&m.partials, None)?;
        let pre = Preprocess::from(&merged.meta.preprocess);
        let name = merged.meta.model_name.clone();
        let (layer, channels) = (merged.meta.layer.clone(), merged.meta.channels.clone());
        return select_and_write(
            &m.select,
            &layer,
            &channels,
            &name,
            &pre,
            merged.images,
            merged.values,
        )
        .map(Outcome::Units);
    }
    let layer = opts.layer.clone().ok_or("--layer is required")?;
    let select = opts
        .select
        .as_ref()
        .ok_or("--images and --out are required")?;
    let mut sorted = opts.channels.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("channel {} is given twice", w[0]));
    }
    let pre = opts.engine.preprocess()?;
    let shard = partial::shard_of(opts.shard.as_deref())?;
    if let Some(file) = &opts.activations {
        if shard.is_some() {
            return Err("--shard splits a model's run; --activations were computed already".into());
        }
        let (images, values) = external(
            file,
            opts.image_list.as_deref(),
            &opts.channels,
            &select.images,
        )?;
        let name = opts.model_name.clone().unwrap_or_else(|| "model".into());
        return select_and_write(select, &layer, &opts.channels, &name, &pre, images, values)
            .map(Outcome::Units);
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
        refuse_filled(&select.out, &layer, &opts.channels)?;
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
    let meta = partial::Meta {
        format: partial::PARTIAL_FORMAT.into(),
        layer: layer.clone(),
        channels: opts.channels.clone(),
        model_name: model_name.clone(),
        model_sha256: {
            use sha2::Digest;
            partial::hex(&sha2::Sha256::digest(&bytes))
        },
        preprocess: (&pre).into(),
        backend: opts.engine.backend.clone(),
        images: files.len(),
        list_sha256: partial::list_sha256(rel.iter().map(String::as_str)),
        shard: k,
        shards: n,
    };
    let dir = select.out.join("partials").join(folder_name(&layer));
    if let Some(mut writer) = partial::Writer::open(&dir, &meta)? {
        let engine = Engine::new_blocking_with(
            &bytes,
            &layer,
            opts.engine.backend()?,
            &opts.engine.limits.load_options(),
        )
        .map_err(|e| format!("{}: {e}", model.display()))?;
        let (lo, hi) = partial::slice(files.len(), k, n);
        let mut progress = Progress::new(hi - lo, writer.done);
        let chunk = opts.chunk.max(1);
        // The next chunk is decoded (on every core) while the engine runs this one; at
        // most two chunks of decoded images are held.
        let start = lo + writer.done;
        let (files, pre) = (&files, &pre);
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
                    .activations_blocking(&images, &opts.channels)
                    .map_err(|e| e.to_string())?;
                let done: Vec<(String, String)> =
                    rel[at..end].iter().cloned().zip(hashes).collect();
                writer.append(&done, &rows)?;
                progress.advance(end - at);
            }
            Ok(())
        })?;
        writer.finish()?;
    } else {
        eprintln!(
            "exemplar exemplars: {} was computed already",
            partial::ShardFiles::new(&dir, k, n).npy.display()
        );
    }
    if shard.is_some() {
        return Ok(Outcome::Shard {
            shard: k,
            shards: n,
            dir,
        });
    }
    let merged = partial::merge(&dir, Some(1))?;
    let units = select_and_write(
        select,
        &layer,
        &opts.channels,
        &model_name,
        &pre,
        merged.images,
        merged.values,
    )?;
    // A whole run's partial was its checkpoint: the activations are in each channel's
    // activations.csv now.
    partial::remove(&dir, 0, 1);
    Ok(Outcome::Units(units))
}

/// A channel folder that holds something already is refused (nothing is overwritten).
fn refuse_filled(out: &Path, layer: &str, channels: &[usize]) -> Result<(), String> {
    for &c in channels {
        let dir = out.join(folder_name(layer)).join(format!("channel_{c}"));
        if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(format!(
                "{} exists and is not empty; remove it or choose another --out",
                dir.display()
            ));
        }
    }
    Ok(())
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

/// `(path relative to --images, SHA-256 of its bytes)` per image, in order.
type Images = Vec<(String, String)>;

/// Reads activations computed elsewhere: `(relative path, sha256)` per image and the
/// values per channel. The listed images must exist under `images` (their bytes are hashed,
/// so that copies are found as in a run).
fn external(
    file: &Path,
    list: Option<&Path>,
    channels: &[usize],
    images: &Path,
) -> Result<(Images, Vec<Vec<f32>>), String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (paths, rows): (Vec<String>, Vec<Vec<f32>>) = if is_csv {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        activations_csv(&text, channels).map_err(|e| format!("{}: {e}", file.display()))?
    } else {
        let _ = meta;
        let array =
            npy::parse(&std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        if array.cols != channels.len() {
            return Err(format!(
                "{}: {} columns, but {} --channel given (one per column, in order)",
                file.display(),
                array.cols,
                channels.len()
            ));
        }
        let list_path = list.map_or_else(|| file.with_extension("txt"), Path::to_path_buf);
        let text = std::fs::read_to_string(&list_path)
            .map_err(|e| format!("the image list {}: {e}", list_path.display()))?;
        let paths: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .collect();
        if paths.len() != array.rows {
            return Err(format!(
                "{} lists {} images, {} has {} rows",
                list_path.display(),
                paths.len(),
                file.display(),
                array.rows
            ));
        }
        let rows = (0..array.rows).map(|i| array.row(i).to_vec()).collect();
        (paths, rows)
    };
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        if p.starts_with('/') || p.split(['/', '\\']).any(|s| s == "..") {
            return Err(format!(
                "image {p:?}: paths must be relative to --images, inside it"
            ));
        }
        let bytes = read_image_file(&images.join(&p))?;
        use sha2::Digest;
        out.push((p, partial::hex(&sha2::Sha256::digest(&bytes))));
    }
    let mut values = vec![Vec::with_capacity(rows.len()); channels.len()];
    for row in &rows {
        for (k, v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(format!(
                    "{}: a value is not a finite number",
                    file.display()
                ));
            }
            values[k].push(*v);
        }
    }
    Ok((out, values))
}

/// A CSV of activations: header `image,<channel>,…`; the requested channels' columns.
fn activations_csv(text: &str, channels: &[usize]) -> Result<(Vec<String>, Vec<Vec<f32>>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.first().map(String::as_str) != Some("image") {
        return Err("the first column must be `image`".into());
    }
    let columns: Vec<usize> = channels
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h.trim_start_matches("channel_") == c.to_string())
                .ok_or_else(|| format!("no column for channel {c} (header: {})", header.join(",")))
        })
        .collect::<Result<_, _>>()?;
    let mut paths = Vec::new();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", i + 2))?;
        paths.push(record.get(0).unwrap_or("").trim().to_string());
        let row = columns
            .iter()
            .map(|&c| {
                record
                    .get(c)
                    .and_then(|v| v.trim().parse::<f32>().ok())
                    .ok_or_else(|| format!("row {}: column {} is not a number", i + 2, header[c]))
            })
            .collect::<Result<Vec<f32>, String>>()?;
        rows.push(row);
    }
    Ok((paths, rows))
}

/// A file's bytes, refused past [`MAX_IMAGE_FILE_BYTES`].
fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > MAX_IMAGE_FILE_BYTES {
        return Err(format!(
            "{}: {len} bytes, more than an image may have here ({MAX_IMAGE_FILE_BYTES})",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Chooses each channel's stimuli from these images (in path order, byte copies of an
/// earlier image left out) and writes them with the CSV and unit entry.
fn select_and_write(
    opts: &SelectOptions,
    layer: &str,
    channels: &[usize],
    model_name: &str,
    pre: &Preprocess,
    images: Vec<(String, String)>,
    values: Vec<Vec<f32>>,
) -> Result<Vec<Unit>, String> {
    // Byte-for-byte copies: a copy would be ranked next to its original, and one image
    // could become both a query and a reference.
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut keep = Vec::with_capacity(images.len());
    let mut copies = Vec::new();
    for (i, (_, sha)) in images.iter().enumerate() {
        match first.entry(sha.as_str()) {
            std::collections::hash_map::Entry::Occupied(o) => copies.push((i, *o.get())),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
                keep.push(i);
            }
        }
    }
    if let Some(&(copy, original)) = copies.first() {
        eprintln!(
            "exemplar exemplars: {} file(s) are byte-for-byte copies of others and are skipped \
             (the first: {} = {})",
            copies.len(),
            opts.images.join(&images[copy].0).display(),
            opts.images.join(&images[original].0).display()
        );
    }
    let files: Vec<PathBuf> = keep
        .iter()
        .map(|&i| opts.images.join(&images[i].0))
        .collect();
    let spec = opts.spec();
    selection::side_ranks(files.len(), &spec)
        .map_err(|e| format!("{}: {e}", opts.images.display()))?;
    refuse_filled(&opts.out, layer, channels)?;
    let format = match opts.format.as_str() {
        "jpeg" => Format::Jpeg(opts.quality),
        _ => Format::Png,
    };
    let shown = match opts.size {
        None => Preprocess {
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
            ..pre.clone()
        },
        Some(n) => Preprocess {
            resize: (n > 0).then_some(n),
            crop: (n > 0).then_some(n),
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
        },
    };
    let base = match &opts.experiment {
        Some(dir) => dir.clone(),
        None => match opts.out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let layer_dir = opts.out.join(folder_name(layer));
    let mut units = Vec::new();
    for (k, &c) in channels.iter().enumerate() {
        let acts: Vec<f32> = keep.iter().map(|&i| values[k][i]).collect();
        let batches = selection::select(&acts, &spec, selection::unit_seed(opts.seed, layer, c))
            .map_err(|e| format!("channel {c}: {e}"))?;
        let dir = layer_dir.join(format!("channel_{c}"));
        let mut stimulus: Vec<String> = vec![String::new(); files.len()];
        for (i, batch) in batches.iter().enumerate() {
            let batch_dir = dir.join(i.to_string());
            std::fs::create_dir_all(&batch_dir)
                .map_err(|e| format!("{}: {e}", batch_dir.display()))?;
            let SelectedBatch { min, max } = batch;
            for (side, chosen) in [("min", min), ("max", max)] {
                for (file, &image) in chosen.iter().enumerate() {
                    let name = format!("{side}_{file}.{}", format.extension());
                    // The file must still be the one whose activation was ranked (a merge
                    // or --activations may be given another --images folder).
                    let bytes = read_image_file(&files[image])?;
                    use sha2::Digest;
                    if partial::hex(&sha2::Sha256::digest(&bytes)) != images[keep[image]].1 {
                        return Err(format!(
                            "{} is not the image whose activations were computed (its bytes \
                             changed, or --images is another folder)",
                            files[image].display()
                        ));
                    }
                    write_stimulus(&files[image], &shown, format, &batch_dir.join(&name))?;
                    stimulus[image] = format!("{i}/{name}");
                }
            }
        }
        write_csv(
            &dir.join("activations.csv"),
            &opts.images,
            &files,
            &acts,
            &stimulus,
        )?;
        let relative = relative_to(&base, &dir)?;
        let unit = Unit {
            id: format!("{model_name}/{layer}/{c}"),
            model: model_name.to_string(),
            layer: layer.to_string(),
            channel: c as u32,
            mode: Mode::Natural,
            batches: (0..batches.len())
                .map(|i| Batch {
                    batch: i as u32,
                    references: format!("{relative}/{i}"),
                    queries: None,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&unit).map_err(|e| e.to_string())? + "\n";
        std::fs::write(dir.join("unit.json"), text)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        units.push(unit);
    }
    Ok(units)
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

/// How stimuli are written.
#[derive(Clone, Copy, Debug)]
enum Format {
    Png,
    /// With this quality.
    Jpeg(u8),
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg(_) => "jpg",
        }
    }

    /// Whether a file with this name is already in this format.
    fn matches(self, path: &Path) -> bool {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        matches!(
            (self, ext.as_deref()),
            (Format::Png, Some("png")) | (Format::Jpeg(_), Some("jpg" | "jpeg"))
        )
    }
}

/// The image as participants see it: the source's own bytes when it already is that image
/// in that format, else encoded.
fn write_stimulus(
    from: &Path,
    shown: &Preprocess,
    format: Format,
    to: &Path,
) -> Result<(), String> {
    let (rgb, w, h) = exemplar_engine::decode_image(from).map_err(|e| e.to_string())?;
    let unchanged = |n: Option<u32>| n.is_none_or(|n| n == w.min(h));
    if format.matches(from) && unchanged(shown.resize) && unchanged(shown.crop) && w == h {
        std::fs::copy(from, to).map_err(|e| format!("{}: {e}", to.display()))?;
        return Ok(());
    }
    let t = shown
        .apply(&rgb, w, h)
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let (height, width) = (t.shape[1], t.shape[2]);
    let plane = width * height;
    // The tensor holds pixel values (mean 0, std 1/255), back in interleaved bytes.
    let pixels: Vec<u8> = (0..plane)
        .flat_map(|i| (0..3).map(move |c| (c, i)))
        .map(|(c, i)| t.data[c * plane + i].round().clamp(0.0, 255.0) as u8)
        .collect();
    let img = image::RgbImage::from_raw(width as u32, height as u32, pixels)
        .ok_or("a stimulus has an impossible size")?;
    let written = match format {
        Format::Png => img.save_with_format(to, image::ImageFormat::Png),
        Format::Jpeg(quality) => std::fs::File::create(to)
            .map_err(image::ImageError::IoError)
            .and_then(|f| {
                let mut out = std::io::BufWriter::new(f);
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
                    .encode_image(&img)
            }),
    };
    written.map_err(|e| format!("{}: {e}", to.display()))
}

/// `image,activation,rank,stimulus` in rank order (rank 1: most activating).
fn write_csv(
    path: &Path,
    root: &Path,
    files: &[PathBuf],
    acts: &[f32],
    stimulus: &[String],
) -> Result<(), String> {
    let order = selection::ranking(acts).map_err(|e| e.to_string())?;
    let failed = |e: csv::Error| format!("{}: {e}", path.display());
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(path)
        .map_err(failed)?;
    writer
        .write_record(["image", "activation", "rank", "stimulus"])
        .map_err(failed)?;
    for (rank, &i) in order.iter().enumerate() {
        let name = files[i].strip_prefix(root).unwrap_or(&files[i]);
        let name = name
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        writer
            .write_record([
                name,
                acts[i].to_string(),
                (rank + 1).to_string(),
                stimulus[i].clone(),
            ])
            .map_err(failed)?;
    }
    writer
        .flush()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A tensor name as one folder name.
fn folder_name(layer: &str) -> String {
    layer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `dir` relative to `base`, with `/`; `dir` must lie inside `base`.
fn relative_to(base: &Path, dir: &Path) -> Result<String, String> {
    let canon = |p: &Path| {
        p.canonicalize()
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (base_c, dir_c) = (canon(base)?, canon(dir)?);
    let rel = dir_c.strip_prefix(&base_c).map_err(|_| {
        format!(
            "{} is not inside the experiment folder {}",
            dir.display(),
            base.display()
        )
    })?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

pub use crate::sample_units::{sample_units, Architecture, SampleOptions};
