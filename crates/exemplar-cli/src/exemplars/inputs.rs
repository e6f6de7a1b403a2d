//! What `exemplar exemplars` is asked to compute, and activations computed elsewhere: the
//! units (`--layer`/`--channel`, or a `--units` file as `sample-units` prints it), grouped
//! by layer, and an `.npy` or CSV of activations (`--activations`).

use std::collections::HashMap;
use std::path::Path;

use super::stimuli::{folder_name, read_capped, read_image_file};
use super::ExemplarsOptions;
use crate::{npy, partial};

/// A layer and the channels of it that a run computes, in column order.
pub type LayerUnits = (String, Vec<usize>);

/// The units asked for, `(layer, channel)` in the order given: `--layer` with its
/// `--channel`s, or `--units FILE`.
pub(super) fn requested_units(opts: &ExemplarsOptions) -> Result<Vec<(String, usize)>, String> {
    match &opts.units {
        Some(file) => units_file(file),
        None => {
            let layer = opts
                .layer
                .clone()
                .ok_or("--layer is required (or --units)")?;
            Ok(opts.channels.iter().map(|&c| (layer.clone(), c)).collect())
        }
    }
}

/// Units grouped by layer: layers in order of first appearance, each layer's channels in
/// the order given; a unit given twice, or two layers that would share a folder, refused.
pub(super) fn by_layer(
    opts: &ExemplarsOptions,
    units: &[(String, usize)],
) -> Result<Vec<LayerUnits>, String> {
    let mut layers: Vec<LayerUnits> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (layer, c) in units {
        match index.get(layer.as_str()) {
            Some(&i) => layers[i].1.push(*c),
            None => {
                index.insert(layer, layers.len());
                layers.push((layer.clone(), vec![*c]));
            }
        }
    }
    for (layer, channels) in &layers {
        let mut sorted = channels.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(if opts.units.is_some() {
                format!("unit {layer} channel {} is listed twice", w[0])
            } else {
                format!("channel {} is given twice", w[0])
            });
        }
    }
    // Two layers must not share a folder (names differing only in replaced characters).
    let mut folders: HashMap<String, &str> = HashMap::new();
    for (a, _) in &layers {
        if let Some(b) = folders.insert(folder_name(a), a) {
            return Err(format!(
                "layers {b:?} and {a:?} would share the folder {:?}",
                folder_name(a)
            ));
        }
    }
    Ok(layers)
}

/// The largest `--units` file read.
const MAX_UNITS_FILE_BYTES: u64 = 16 << 20;

/// Reads `sample-units` output: one `{"layer": …, "channel": …}` a line (blank lines
/// skipped).
fn units_file(file: &Path) -> Result<Vec<(String, usize)>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        layer: String,
        channel: usize,
    }
    let bytes = read_capped(file, MAX_UNITS_FILE_BYTES, "a units file")?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", file.display()))?;
    let mut units = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let unit: Line = serde_json::from_str(line).map_err(|e| {
            format!(
                "{} line {}: not a unit ({{\"layer\": …, \"channel\": …}}, as sample-units prints): {e}",
                file.display(),
                i + 1
            )
        })?;
        units.push((unit.layer, unit.channel));
    }
    if units.is_empty() {
        return Err(format!("{}: no units", file.display()));
    }
    Ok(units)
}

/// `(path relative to --images, SHA-256 of its bytes)` per image, in order.
type Images = Vec<(String, String)>;

/// Reads activations computed elsewhere: `(relative path, sha256)` per image and the
/// values per unit, grouped as `layers` groups them (an .npy's columns are `units`, in the
/// order given; a CSV's are found by their headers). The listed images must exist under `images` (their bytes are hashed,
/// so that copies are found as in a run).
pub(super) fn external(
    file: &Path,
    list: Option<&Path>,
    units: &[(String, usize)],
    layers: &[LayerUnits],
    from_units_file: bool,
    images: &Path,
) -> Result<(Images, Vec<Vec<f32>>), String> {
    let columns = units.len();
    let meta = std::fs::metadata(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (paths, rows): (Vec<String>, Vec<Vec<f32>>) = if is_csv {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        activations_csv(&text, layers, from_units_file)
            .map_err(|e| format!("{}: {e}", file.display()))?
    } else {
        let _ = meta;
        let array =
            npy::parse(&std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        if array.cols != columns {
            return Err(if from_units_file {
                format!(
                    "{}: {} columns, but the units file lists {columns} units (one per column, in order)",
                    file.display(),
                    array.cols,
                )
            } else {
                format!(
                    "{}: {} columns, but {columns} --channel given (one per column, in order)",
                    file.display(),
                    array.cols,
                )
            });
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
        // The .npy's columns are the units in the order given; grouped by layer here.
        let column: HashMap<(&str, usize), usize> = units
            .iter()
            .enumerate()
            .map(|(k, (l, c))| ((l.as_str(), *c), k))
            .collect();
        let grouped: Vec<usize> = layers
            .iter()
            .flat_map(|(l, channels)| channels.iter().map(move |&c| (l.as_str(), c)))
            .filter_map(|u| column.get(&u).copied())
            .collect();
        let rows = (0..array.rows)
            .map(|i| {
                let row = array.row(i);
                grouped.iter().map(|&k| row[k]).collect()
            })
            .collect();
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
    let mut values = vec![Vec::with_capacity(rows.len()); columns];
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

/// A CSV of activations: header `image,<channel>,…` (or `channel_<c>`) for one layer, or
/// `image,<layer>:<channel>,…` for `--units`; the requested units' columns, in order.
fn activations_csv(
    text: &str,
    layers: &[LayerUnits],
    from_units_file: bool,
) -> Result<(Vec<String>, Vec<Vec<f32>>), String> {
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
    // Each name's first column: `<layer>:<channel>`, and for one layer `<c>` or `channel_<c>`.
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, h) in header.iter().enumerate().skip(1).rev() {
        position.insert(h, i);
        if !from_units_file {
            position.insert(h.trim_start_matches("channel_"), i);
        }
    }
    let shown = || {
        let mut names: Vec<&str> = header.iter().take(12).map(String::as_str).collect();
        if header.len() > 12 {
            names.push("…");
        }
        names.join(",")
    };
    let columns: Vec<usize> = layers
        .iter()
        .flat_map(|(layer, channels)| channels.iter().map(move |c| (layer, c)))
        .map(|(layer, c)| {
            let qualified = format!("{layer}:{c}");
            position
                .get(qualified.as_str())
                .or_else(|| {
                    (!from_units_file)
                        .then(|| position.get(c.to_string().as_str()))
                        .flatten()
                })
                .copied()
                .ok_or_else(|| {
                    if from_units_file {
                        format!(
                            "no column {qualified:?} for unit {layer} channel {c} (header: {})",
                            shown()
                        )
                    } else {
                        format!("no column for channel {c} (header: {})", shown())
                    }
                })
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
