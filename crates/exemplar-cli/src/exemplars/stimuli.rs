//! The stimuli `exemplar exemplars` writes for one layer's units, once their activations
//! are known: the selection (core's `selection.rs`) over the images in path order, then
//! the batch folders, each channel's `activations.csv` and `unit.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use exemplar_core::experiment::{Batch, Mode, Unit};
use exemplar_core::selection::{self, SelectedBatch};
use exemplar_engine::Preprocess;

use super::SelectOptions;
use crate::partial;

/// The largest image file read (a hostile "image" of many gigabytes is refused unread).
const MAX_IMAGE_FILE_BYTES: u64 = 512 << 20;

/// A channel folder that holds something already is refused (nothing is overwritten).
pub(super) fn refuse_filled(out: &Path, layer: &str, channels: &[usize]) -> Result<(), String> {
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

/// A file's bytes, refused past [`MAX_IMAGE_FILE_BYTES`].
pub(crate) fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    read_capped(path, MAX_IMAGE_FILE_BYTES, "an image")
}

/// A file's bytes, refused unread when it has more than `max` (`what` names the kind of
/// file in the message).
pub(super) fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > max {
        return Err(format!(
            "{}: {len} bytes, more than {what} may have here ({max})",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Chooses each channel's stimuli from these images (in path order, byte copies of an
/// earlier image left out) and writes them with the CSV and unit entry.
pub(super) fn select_and_write(
    opts: &SelectOptions,
    layer: &str,
    channels: &[usize],
    model_name: &str,
    pre: &Preprocess,
    images: &[(String, String)],
    values: &[Vec<f32>],
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
    // Each source image's stimulus, once written: the units that show it again get a copy
    // of that file instead of a second decode, resize and encode (the same bytes). A run
    // over 640 images wrote 15,499 stimuli for 100 units, and took 190 s for them, 7
    // times its activation pass.
    let mut written: HashMap<usize, PathBuf> = HashMap::new();
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
                    let to = batch_dir.join(&name);
                    if let Some(first) = written.get(&image) {
                        std::fs::copy(first, &to).map_err(|e| format!("{}: {e}", to.display()))?;
                    } else {
                        // The file must still be the one whose activation was ranked (a
                        // merge or --activations may be given another --images folder).
                        let bytes = read_image_file(&files[image])?;
                        use sha2::Digest;
                        if partial::hex(&sha2::Sha256::digest(&bytes)) != images[keep[image]].1 {
                            return Err(format!(
                                "{} is not the image whose activations were computed (its \
                                 bytes changed, or --images is another folder)",
                                files[image].display()
                            ));
                        }
                        write_stimulus(&files[image], &shown, format, &to)?;
                        written.insert(image, to);
                    }
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
pub(super) fn folder_name(layer: &str) -> String {
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
