//! `exemplar exemplars`: a unit's stimuli chosen from a folder of images as the paradigm
//! does, and `exemplar sample-units`: which units to study.
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
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use exemplar_core::experiment::{Batch, Mode, Unit};
use exemplar_core::selection::{self, Queries, SelectedBatch, Spec, PAPER_BATCHES};
use exemplar_engine::{Backend, Engine, Preprocess, Tensor};

/// How images reach the engine: preprocessing and backend (`activations` and `exemplars`).
#[derive(clap::Args, Clone, Debug)]
pub struct EngineOptions {
    /// Preprocessing preset: imagenet (resize 256, crop 224, ImageNet mean/std) or
    /// inception (pixel × 255 − 117).
    #[arg(long, default_value = "imagenet")]
    pub preset: String,
    /// Resize the shorter side to N pixels (0: no resize).
    #[arg(long)]
    pub resize: Option<u32>,
    /// Centre crop to N×N (0: no crop).
    #[arg(long)]
    pub crop: Option<u32>,
    /// Per-channel mean of 0..1 pixel values, as r,g,b.
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, as r,g,b.
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// gpu (WGSL compute shaders through wgpu) or cpu (the plain-Rust reference).
    #[arg(long, default_value = "gpu")]
    pub backend: String,
    #[command(flatten)]
    pub limits: LimitOptions,
}

impl EngineOptions {
    /// The preset with the overrides applied.
    pub fn preprocess(&self) -> Result<Preprocess, String> {
        let mut pre = Preprocess::preset(&self.preset).map_err(|e| e.to_string())?;
        if let Some(n) = self.resize {
            pre.resize = (n > 0).then_some(n);
        }
        if let Some(n) = self.crop {
            pre.crop = (n > 0).then_some(n);
        }
        let rgb = |name: &str, v: &[f32]| -> Result<[f32; 3], String> {
            <[f32; 3]>::try_from(v)
                .map_err(|_| format!("--{name} needs three values r,g,b, got {}", v.len()))
        };
        if let Some(m) = &self.mean {
            pre.mean = rgb("mean", m)?;
        }
        if let Some(s) = &self.std {
            pre.std = rgb("std", s)?;
        }
        Ok(pre)
    }

    /// The backend named by `--backend`.
    pub fn backend(&self) -> Result<Backend, String> {
        self.backend
            .parse()
            .map_err(|e: exemplar_engine::EngineError| e.to_string())
    }
}

/// Caps on what a model may make the engine allocate (`activations`, `exemplars`,
/// `sample-units`, `check`); see [`exemplar_engine::LoadOptions`].
#[derive(clap::Args, Clone, Debug)]
pub struct LimitOptions {
    /// The most elements one tensor of the model may have (weights, folded constants,
    /// intermediate tensors); a model over it is refused, naming the tensor.
    #[arg(long, default_value_t = exemplar_engine::LoadOptions::DEFAULT_MAX_TENSOR_ELEMENTS)]
    pub max_tensor_elements: u64,
    /// The most bytes of the model's weights together, and of all tensors of one run
    /// together (batches are split to stay under it).
    #[arg(long, default_value_t = exemplar_engine::LoadOptions::DEFAULT_MAX_TOTAL_BYTES)]
    pub max_total_bytes: u64,
}

impl Default for LimitOptions {
    fn default() -> LimitOptions {
        let d = exemplar_engine::LoadOptions::default();
        LimitOptions {
            max_tensor_elements: d.max_tensor_elements,
            max_total_bytes: d.max_total_bytes,
        }
    }
}

impl LimitOptions {
    /// As the engine takes them.
    pub fn load_options(&self) -> exemplar_engine::LoadOptions {
        exemplar_engine::LoadOptions {
            max_tensor_elements: self.max_tensor_elements,
            max_total_bytes: self.max_total_bytes,
        }
    }
}

/// Options of `exemplar exemplars`.
#[derive(clap::Args)]
pub struct ExemplarsOptions {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The target tensor's name in the graph.
    #[arg(long)]
    pub layer: String,
    /// A channel of the target (repeatable; all are computed in one pass).
    #[arg(long = "channel", required = true)]
    pub channels: Vec<usize>,
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
    /// Images decoded and run per engine call.
    #[arg(long, default_value_t = 64)]
    pub chunk: usize,
    /// File format of the stimuli written: png, or jpeg (`.jpg`).
    #[arg(long, default_value = "png", value_parser = ["png", "jpeg"])]
    pub format: String,
    /// JPEG quality (1–100) when a stimulus has to be encoded as JPEG.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// The `model` of the unit entries (default: the model file's name without extension).
    #[arg(long)]
    pub model_name: Option<String>,
    /// The experiment folder the entries' paths are relative to (default: OUT's parent).
    #[arg(long)]
    pub experiment: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineOptions,
}

/// Runs `exemplar exemplars`; returns the unit entries written.
pub fn run(opts: &ExemplarsOptions) -> Result<Vec<Unit>, String> {
    let spec = Spec {
        batches: opts.batches,
        queries: match (opts.query_rank, opts.query_percentile) {
            (Some(r), _) => Queries::Rank(r),
            (None, Some(p)) => Queries::Percentile(p),
            (None, None) => Queries::Next,
        },
    };
    let files = distinct(image_files(&opts.images)?)?;
    // Refuse before hours of computing.
    selection::side_ranks(files.len(), &spec)
        .map_err(|e| format!("{}: {e}", opts.images.display()))?;
    let mut channels = opts.channels.clone();
    channels.sort_unstable();
    if let Some(w) = channels.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("channel {} is given twice", w[0]));
    }
    let layer_dir = opts.out.join(folder_name(&opts.layer));
    let unit_dir = |c: usize| layer_dir.join(format!("channel_{c}"));
    for &c in &opts.channels {
        let dir = unit_dir(c);
        if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(format!(
                "{} exists and is not empty; remove it or choose another --out",
                dir.display()
            ));
        }
    }
    let pre = opts.engine.preprocess()?;
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
    let bytes = std::fs::read(&opts.model)
        .map_err(|e| format!("cannot read model {}: {e}", opts.model.display()))?;
    let engine = Engine::new_blocking_with(
        &bytes,
        &opts.layer,
        opts.engine.backend()?,
        &opts.engine.limits.load_options(),
    )
    .map_err(|e| format!("{}: {e}", opts.model.display()))?;
    let activations = activations(&engine, &files, &pre, &opts.channels, opts.chunk.max(1))?;

    let base = match &opts.experiment {
        Some(dir) => dir.clone(),
        None => match opts.out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let model_name = opts.model_name.clone().unwrap_or_else(|| {
        opts.model
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut units = Vec::new();
    for (k, &c) in opts.channels.iter().enumerate() {
        let acts = &activations[k];
        let batches =
            selection::select(acts, &spec, selection::unit_seed(opts.seed, &opts.layer, c))
                .map_err(|e| format!("channel {c}: {e}"))?;
        let dir = unit_dir(c);
        let mut stimulus: Vec<String> = vec![String::new(); files.len()];
        for (i, batch) in batches.iter().enumerate() {
            let batch_dir = dir.join(i.to_string());
            std::fs::create_dir_all(&batch_dir)
                .map_err(|e| format!("{}: {e}", batch_dir.display()))?;
            let SelectedBatch { min, max } = batch;
            for (side, images) in [("min", min), ("max", max)] {
                for (file, &image) in images.iter().enumerate() {
                    let name = format!("{side}_{file}.{}", format.extension());
                    write_stimulus(&files[image], &shown, format, &batch_dir.join(&name))?;
                    stimulus[image] = format!("{i}/{name}");
                }
            }
        }
        write_csv(
            &dir.join("activations.csv"),
            &opts.images,
            &files,
            acts,
            &stimulus,
        )?;
        let relative = relative_to(&base, &dir)?;
        let unit = Unit {
            id: format!("{}/{}/{c}", model_name, opts.layer),
            model: model_name.clone(),
            layer: opts.layer.clone(),
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
    Ok(out)
}

/// The files without byte-for-byte copies of an earlier one (in path order): a copy would
/// be ranked next to its original, and one image could become both a query and a
/// reference. What is skipped is said on stderr.
fn distinct(files: Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    use sha2::{Digest, Sha256};
    let mut first: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut keep = Vec::with_capacity(files.len());
    let mut copies = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match first.entry(Sha256::digest(&bytes).to_vec()) {
            std::collections::hash_map::Entry::Occupied(o) => copies.push((i, *o.get())),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
                keep.push(path.clone());
            }
        }
    }
    if let Some(&(copy, original)) = copies.first() {
        eprintln!(
            "exemplar exemplars: {} file(s) are byte-for-byte copies of others and are skipped \
             (the first: {} = {})",
            copies.len(),
            files[copy].display(),
            files[original].display()
        );
    }
    Ok(keep)
}

/// `result[k][i]`: channel `channels[k]` for image `i`.
fn activations(
    engine: &Engine,
    files: &[PathBuf],
    pre: &Preprocess,
    channels: &[usize],
    chunk: usize,
) -> Result<Vec<Vec<f32>>, String> {
    let mut out = vec![Vec::with_capacity(files.len()); channels.len()];
    let mut progress = Progress::new(files.len());
    for part in files.chunks(chunk) {
        let images = decode(part, pre)?;
        let acts = engine
            .activations_blocking(&images, channels)
            .map_err(|e| e.to_string())?;
        for row in acts {
            for (k, v) in row.into_iter().enumerate() {
                out[k].push(v);
            }
        }
        progress.advance(part.len());
    }
    Ok(out)
}

/// Decodes and preprocesses on every core (decoding, not the engine, bounds a large folder).
pub(crate) fn decode(files: &[PathBuf], pre: &Preprocess) -> Result<Vec<Tensor>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = files.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|p| {
                            let (rgb, w, h) =
                                exemplar_engine::decode_image(p).map_err(|e| e.to_string())?;
                            pre.apply(&rgb, w, h)
                                .map_err(|e| format!("{}: {e}", p.display()))
                        })
                        .collect::<Result<Vec<_>, String>>()
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

/// One line on stderr: rewritten in place on a terminal, every tenth otherwise.
struct Progress {
    total: usize,
    done: usize,
    start: Instant,
    tty: bool,
    tenths: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            start: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            tenths: 0,
        }
    }

    fn advance(&mut self, n: usize) {
        self.done += n;
        let tenths = self.done * 10 / self.total.max(1);
        if !self.tty && tenths == self.tenths {
            return;
        }
        self.tenths = tenths;
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        let left = (self.total - self.done) as f64 / rate.max(1e-9);
        let line = format!(
            "exemplar exemplars: {}/{} images ({:.0} %), {rate:.1} images/s, {left:.0} s left",
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            let end = if self.done >= self.total { "\n" } else { "" };
            write!(err, "\r{line}{end}")
        } else {
            writeln!(err, "{line}")
        };
    }
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

/// Options of `exemplar sample-units`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("eligible").required(true).args(["layers", "op_types"])))]
pub struct SampleOptions {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The eligible layers (tensor names), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Or: every output of a node of these operator types is eligible (e.g. Conv,Relu).
    #[arg(long, value_delimiter = ',')]
    pub op_types: Vec<String>,
    /// Units to draw (distinct; the paper: 84 per model).
    #[arg(long, default_value_t = 84)]
    pub count: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Height and width of the input, where the model leaves them open.
    #[arg(long, default_value_t = 224)]
    pub input_size: usize,
    #[command(flatten)]
    pub limits: LimitOptions,
}

/// Runs `exemplar sample-units`: `(layer, channel)` in draw order; the eligible layers
/// and their channel counts are reported on stderr.
pub fn sample_units(opts: &SampleOptions) -> Result<Vec<(String, usize)>, String> {
    let bytes = std::fs::read(&opts.model)
        .map_err(|e| format!("cannot read model {}: {e}", opts.model.display()))?;
    let model = exemplar_engine::onnx::decode_model(&bytes).map_err(|e| e.to_string())?;
    let layers: Vec<String> = if opts.layers.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for node in model.graph.iter().flat_map(|g| &g.node) {
            if opts.op_types.contains(&node.op_type) {
                if let Some(out) = node.output.first().filter(|o| !names.contains(o)) {
                    names.push(out.clone());
                }
            }
        }
        if names.is_empty() {
            return Err(format!(
                "no node of type {} in {}",
                opts.op_types.join(", "),
                opts.model.display()
            ));
        }
        names
    } else {
        opts.layers.clone()
    };
    let mut channels = Vec::with_capacity(layers.len());
    for layer in &layers {
        let engine = Engine::from_model_with(&model, layer, None, &opts.limits.load_options())
            .map_err(|e| format!("{}: layer {layer}: {e}", opts.model.display()))?;
        let input: Vec<usize> = match engine.input_shape() {
            [] => vec![1, 3, opts.input_size, opts.input_size],
            decl => decl
                .iter()
                .enumerate()
                .map(|(axis, d)| {
                    d.unwrap_or(match axis {
                        0 => 1,
                        1 => 3,
                        _ => opts.input_size,
                    })
                })
                .collect(),
        };
        channels.push(
            engine
                .channels(&input)
                .map_err(|e| format!("layer {layer}: {e}"))?,
        );
    }
    eprintln!(
        "exemplar sample-units: {} eligible layers, {} channels in all",
        layers.len(),
        channels.iter().sum::<usize>()
    );
    let drawn =
        selection::sample_units(&channels, opts.count, opts.seed).map_err(|e| e.to_string())?;
    Ok(drawn
        .into_iter()
        .map(|(l, c)| (layers[l].clone(), c))
        .collect())
}
