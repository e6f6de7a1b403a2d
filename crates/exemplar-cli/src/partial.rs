//! Partial activations: what one shard of `exemplar exemplars` computes, kept so that a
//! killed run resumes and so that `exemplar exemplars merge` can select from every shard.
//!
//! A shard `K` of `N` is a contiguous slice of the images in path order (the same order a
//! single run uses). In `OUT/partials/<layer>/` it writes:
//!
//! ```text
//! shard_K_of_N.json   what was computed: layer, channels, model (and its SHA-256),
//!                     preprocessing, the whole list's size and fingerprint, the slice
//! shard_K_of_N.txt    one line per image done: SHA-256 of its bytes, a tab, its path
//!                     relative to --images
//! shard_K_of_N.rows   while running: one row of float32 (little-endian) per image done
//! shard_K_of_N.npy    when done: the rows as a NumPy array, images × channels
//! ```
//!
//! Rows are appended and flushed a chunk at a time; a restarted shard keeps the rows whose
//! line and floats are both complete and goes on from there, so it writes the same bytes as
//! an uninterrupted run. A single run is shard 0 of 1. Memory: the merge holds one float
//! per image and channel, and each image's path and hash.

use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::npy;

/// The format of a shard's description.
pub const PARTIAL_FORMAT: &str = "exemplar.partial/1";

/// What a shard computes; every shard of one run has the same, but for `shard`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// [`PARTIAL_FORMAT`].
    pub format: String,
    /// The target tensor.
    pub layer: String,
    /// The channels, in column order.
    pub channels: Vec<usize>,
    /// The model's name for the unit entries.
    pub model_name: String,
    /// SHA-256 of the model file (hex).
    pub model_sha256: String,
    /// The preprocessing, as `resize`, `crop`, `mean`, `std`.
    pub preprocess: PreprocessMeta,
    /// The engine's backend (`gpu`, `cpu`): shards of one run use one.
    pub backend: String,
    /// Images in the whole list (every shard).
    pub images: usize,
    /// SHA-256 (hex) of the whole list's relative paths, one per line.
    pub list_sha256: String,
    /// This shard.
    pub shard: usize,
    /// Shards in all.
    pub shards: usize,
}

/// [`exemplar_engine::Preprocess`] as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PreprocessMeta {
    /// Shorter side resized to this.
    pub resize: Option<u32>,
    /// Centre crop side.
    pub crop: Option<u32>,
    /// Mean per channel.
    pub mean: [f32; 3],
    /// Standard deviation per channel.
    pub std: [f32; 3],
}

impl From<&exemplar_engine::Preprocess> for PreprocessMeta {
    fn from(p: &exemplar_engine::Preprocess) -> Self {
        PreprocessMeta {
            resize: p.resize,
            crop: p.crop,
            mean: p.mean,
            std: p.std,
        }
    }
}

impl From<&PreprocessMeta> for exemplar_engine::Preprocess {
    fn from(p: &PreprocessMeta) -> Self {
        exemplar_engine::Preprocess {
            resize: p.resize,
            crop: p.crop,
            mean: p.mean,
            std: p.std,
        }
    }
}

/// `K/N` (K from 0): which slice of the images a run computes. Without `--shard`, a Slurm
/// array task's `SLURM_ARRAY_TASK_ID` (less `SLURM_ARRAY_TASK_MIN`) of
/// `SLURM_ARRAY_TASK_COUNT`; else `None` (the whole list).
pub fn shard_of(arg: Option<&str>) -> Result<Option<(usize, usize)>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let text = match arg {
        Some(t) => t.to_string(),
        None => match (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) {
            (Some(id), Some(count)) => {
                let number = |name: &str, v: &str| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("{name}={v:?} is not a number"))
                };
                let id = number("SLURM_ARRAY_TASK_ID", &id)?;
                let min = var("SLURM_ARRAY_TASK_MIN")
                    .map_or(Ok(0), |v| number("SLURM_ARRAY_TASK_MIN", &v))?;
                let k = id.checked_sub(min).ok_or_else(|| {
                    format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
                })?;
                eprintln!("exemplar exemplars: shard {k}/{count} from the Slurm array task");
                format!("{k}/{count}")
            }
            _ => return Ok(None),
        },
    };
    let bad = || format!("--shard {text:?}: expected K/N with 0 ≤ K < N, like 0/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n) = (
        k.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok(Some((k, n)))
}

/// The slice `[lo, hi)` of `len` images that shard `k` of `n` computes.
pub fn slice(len: usize, k: usize, n: usize) -> (usize, usize) {
    let at = |k: usize| (k as u128 * len as u128 / n.max(1) as u128) as usize;
    (at(k), at(k + 1))
}

/// SHA-256 of relative paths, one per line (the list's fingerprint).
pub fn list_sha256<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in paths {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The files of shard `meta.shard` in `dir`.
pub struct ShardFiles {
    /// `.json`.
    pub meta: PathBuf,
    /// `.txt`.
    pub list: PathBuf,
    /// `.rows` (while running).
    pub rows: PathBuf,
    /// `.npy` (when done).
    pub npy: PathBuf,
    /// `.lock`: held by the process computing the shard.
    pub lock: PathBuf,
}

impl ShardFiles {
    /// The file names of shard `k` of `n` in `dir`.
    pub fn new(dir: &Path, k: usize, n: usize) -> ShardFiles {
        let base = dir.join(format!("shard_{k}_of_{n}"));
        let with = |ext: &str| base.with_extension(ext);
        ShardFiles {
            meta: with("json"),
            list: with("txt"),
            rows: with("rows"),
            npy: with("npy"),
            lock: with("lock"),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// A shard being computed: appends rows, resumes where a killed run stopped.
pub struct Writer {
    files: ShardFiles,
    /// Held while the shard is computed.
    _lock: std::fs::File,
    /// Rows the shard has when complete.
    expected: usize,
    channels: usize,
    list: std::fs::File,
    rows: std::fs::File,
    /// Images done so far (resumed ones included).
    pub done: usize,
}

impl Writer {
    /// Opens shard `meta.shard` in `dir` for `meta`: a new one, or the one a killed run left
    /// (same `meta`), keeping its complete rows. A finished shard (its `.npy` exists) is
    /// `None`.
    pub fn open(dir: &Path, meta: &Meta) -> Result<Option<Writer>, String> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = ShardFiles::new(dir, meta.shard, meta.shards);
        let text = serde_json::to_string_pretty(meta).map_err(|e| e.to_string())? + "\n";
        match std::fs::read_to_string(&files.meta) {
            Ok(old) if old == text => {
                if files.npy.exists() {
                    return Ok(None);
                }
            }
            Ok(_) => {
                return Err(format!(
                    "{} was written for other settings (model, layer, channels, \
                     preprocessing, images or shard); remove {} or choose another --out",
                    files.meta.display(),
                    dir.display()
                ))
            }
            Err(_) => {
                for stale in [&files.list, &files.rows, &files.npy] {
                    let _ = std::fs::remove_file(stale);
                }
                std::fs::write(&files.meta, &text).map_err(io(&files.meta))?;
            }
        }
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(p)
                .map_err(io(p))
        };
        // One process per shard: a second (a resubmitted array task) is refused while the
        // first runs; the lock goes with the process, so a killed run's does not stay.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&files.lock)
            .map_err(io(&files.lock))?;
        if lock.try_lock().is_err() {
            return Err(format!(
                "another process is computing {} (it holds {})",
                files.meta.display(),
                files.lock.display()
            ));
        }
        let (mut list, rows) = (open(&files.list)?, open(&files.rows)?);
        // Complete lines and complete rows: the lesser of the two counts.
        list.seek(std::io::SeekFrom::Start(0))
            .map_err(io(&files.list))?;
        let mut buf = Vec::new();
        list.read_to_end(&mut buf).map_err(io(&files.list))?;
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        let row_bytes = 4 * meta.channels.len();
        let stored = rows.metadata().map_err(io(&files.rows))?.len() as usize;
        let done = lines.min(stored / row_bytes.max(1));
        // Cut both to `done`.
        let list_len = buf
            .split_inclusive(|&b| b == b'\n')
            .take(done)
            .map(<[u8]>::len)
            .sum::<usize>();
        list.set_len(list_len as u64).map_err(io(&files.list))?;
        rows.set_len((done * row_bytes) as u64)
            .map_err(io(&files.rows))?;
        if done > 0 {
            eprintln!(
                "exemplar exemplars: resuming {}: {done} images were done",
                files.meta.display()
            );
        }
        let (lo, hi) = slice(meta.images, meta.shard, meta.shards);
        Ok(Some(Writer {
            files,
            _lock: lock,
            expected: hi - lo,
            channels: meta.channels.len(),
            list,
            rows,
            done,
        }))
    }

    /// Cuts the shard back to its first `n` images (the other layers of a run that computes
    /// several in one pass may have stopped earlier); more than are done is an error.
    pub fn cut_to(&mut self, n: usize) -> Result<(), String> {
        if n > self.done {
            return Err(format!(
                "{}: cannot keep {n} images, {} are done",
                self.files.rows.display(),
                self.done
            ));
        }
        self.list
            .seek(std::io::SeekFrom::Start(0))
            .map_err(io(&self.files.list))?;
        let mut buf = Vec::new();
        self.list
            .read_to_end(&mut buf)
            .map_err(io(&self.files.list))?;
        let list_len = buf
            .split_inclusive(|&b| b == b'\n')
            .take(n)
            .map(<[u8]>::len)
            .sum::<usize>();
        self.list
            .set_len(list_len as u64)
            .map_err(io(&self.files.list))?;
        self.rows
            .set_len((n * self.channels * 4) as u64)
            .map_err(io(&self.files.rows))?;
        self.done = n;
        Ok(())
    }

    /// Appends the rows of these images (relative path, SHA-256, one value per channel)
    /// and flushes them to disk.
    pub fn append(&mut self, images: &[(String, String)], rows: &[Vec<f32>]) -> Result<(), String> {
        let mut floats = Vec::with_capacity(rows.len() * self.channels * 4);
        for row in rows {
            if row.len() != self.channels {
                return Err(format!(
                    "the engine gave {} values, not {}",
                    row.len(),
                    self.channels
                ));
            }
            for v in row {
                floats.extend(v.to_le_bytes());
            }
        }
        // Rows first: a line without its row is cut on resume, a row without its line too.
        self.rows.write_all(&floats).map_err(io(&self.files.rows))?;
        self.rows.sync_data().map_err(io(&self.files.rows))?;
        let mut text = String::new();
        for (path, sha) in images {
            text.push_str(&format!("{sha}\t{path}\n"));
        }
        self.list
            .write_all(text.as_bytes())
            .map_err(io(&self.files.list))?;
        self.list.sync_data().map_err(io(&self.files.list))?;
        self.done += images.len();
        Ok(())
    }

    /// Writes the `.npy` from the rows and removes them.
    pub fn finish(self) -> Result<(), String> {
        let bytes = std::fs::read(&self.files.rows).map_err(io(&self.files.rows))?;
        if self.done != self.expected || bytes.len() != self.done * self.channels * 4 {
            return Err(format!(
                "{}: {} rows of {} written, {} bytes; run the shard again",
                self.files.rows.display(),
                self.done,
                self.expected,
                bytes.len()
            ));
        }
        let data: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let array = npy::Array {
            rows: self.done,
            cols: self.channels,
            data,
        };
        let tmp = self.files.npy.with_extension("npy.tmp");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
        npy::write(&mut out, &array).map_err(io(&tmp))?;
        out.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.files.npy).map_err(io(&self.files.npy))?;
        std::fs::remove_file(&self.files.rows).map_err(io(&self.files.rows))?;
        let _ = std::fs::remove_file(&self.files.lock);
        Ok(())
    }
}

/// Every image of every shard, in order: its path relative to `--images`, its SHA-256,
/// and its value per channel.
pub struct Merged {
    /// What the shards computed (with `shard` 0).
    pub meta: Meta,
    /// `(relative path, sha256)` per image.
    pub images: Vec<(String, String)>,
    /// `values[k][i]`: channel `meta.channels[k]` for image `i`.
    pub values: Vec<Vec<f32>>,
}

/// Reads the finished shards in `dir` (every `shard_K_of_N` of one run, or of `shards`
/// shards when given): they must agree on what they computed and together cover the whole
/// list once.
pub fn merge(dir: &Path, shards: Option<usize>) -> Result<Merged, String> {
    let mut metas: Vec<(Meta, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("shard_") && name.ends_with(".json") {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let meta: Meta = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a shard's description: {e}", path.display()))?;
            if meta.format != PARTIAL_FORMAT {
                return Err(format!("{}: format {:?}", path.display(), meta.format));
            }
            if shards.is_none_or(|n| n == meta.shards) {
                metas.push((meta, path));
            }
        }
    }
    metas.sort_by_key(|(m, _)| m.shard);
    let Some((first, _)) = metas.first() else {
        return Err(format!("{}: no shard_K_of_N.json", dir.display()));
    };
    let first = first.clone();
    let n = first.shards;
    let same = |m: &Meta| {
        Meta {
            shard: 0,
            ..m.clone()
        } == Meta {
            shard: 0,
            ..first.clone()
        }
    };
    if let Some((_, path)) = metas.iter().find(|(m, _)| !same(m)) {
        return Err(format!(
            "{} was computed with other settings than {} (model, layer, channels, \
             preprocessing, images or shard count)",
            path.display(),
            ShardFiles::new(dir, first.shard, n).meta.display()
        ));
    }
    let have: Vec<usize> = metas.iter().map(|(m, _)| m.shard).collect();
    // The first few missing shards (never a walk over a hostile count).
    let mut missing = Vec::new();
    let mut k = 0;
    while k < n && missing.len() < 10 && k <= have.len() + 10 {
        if !have.contains(&k) {
            missing.push(k.to_string());
        }
        k += 1;
    }
    if have.len() != n || !missing.is_empty() {
        return Err(format!(
            "{}: {} of {n} shards found; missing: {}",
            dir.display(),
            have.len(),
            if missing.is_empty() {
                "(numbers past the count)".to_string()
            } else {
                missing.join(", ")
            }
        ));
    }
    let cols = first.channels.len();
    // Grown as the shards are read: a description's counts are not trusted.
    let mut images = Vec::new();
    let mut values = vec![Vec::new(); cols];
    for k in 0..n {
        let files = ShardFiles::new(dir, k, n);
        if !files.npy.exists() {
            return Err(format!(
                "{} is not finished (run its shard again to complete it)",
                files.meta.display()
            ));
        }
        let (lo, hi) = slice(first.images, k, n);
        let array = npy::parse(&std::fs::read(&files.npy).map_err(io(&files.npy))?)
            .map_err(|e| format!("{}: {e}", files.npy.display()))?;
        let list = read_list(&files.list)?;
        if array.rows != hi - lo || list.len() != hi - lo || array.cols != cols {
            return Err(format!(
                "{}: {} rows of {} values and {} images, expected {} images of {cols}",
                files.npy.display(),
                array.rows,
                array.cols,
                list.len(),
                hi - lo
            ));
        }
        for i in 0..array.rows {
            for (c, v) in array.row(i).iter().enumerate() {
                values[c].push(*v);
            }
        }
        images.extend(list);
    }
    let fingerprint = list_sha256(images.iter().map(|(p, _)| p.as_str()));
    if fingerprint != first.list_sha256 {
        return Err(format!(
            "{}: the shards' images are not the list they were cut from",
            dir.display()
        ));
    }
    Ok(Merged {
        meta: Meta { shard: 0, ..first },
        images,
        values,
    })
}

/// Removes shard `k` of `n` from `dir`, and `dir` and its parent if that leaves them empty.
pub fn remove(dir: &Path, k: usize, n: usize) {
    let files = ShardFiles::new(dir, k, n);
    for f in [
        &files.meta,
        &files.list,
        &files.rows,
        &files.npy,
        &files.lock,
    ] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir(dir);
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

/// A shard's `.txt`: `(relative path, sha256)` per line.
fn read_list(path: &Path) -> Result<Vec<(String, String)>, String> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.map_err(io(path))?;
            let (sha, rel) = line
                .split_once('\t')
                .ok_or_else(|| format!("{}:{}: not SHA-256, tab, path", path.display(), i + 1))?;
            Ok((rel.to_string(), sha.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_list_once_in_order() {
        for len in [0, 1, 7, 100, 1_281_167] {
            for n in 1..=9 {
                let mut next = 0;
                for k in 0..n {
                    let (lo, hi) = slice(len, k, n);
                    assert_eq!(lo, next);
                    assert!(hi - lo <= len / n + 1);
                    next = hi;
                }
                assert_eq!(next, len);
            }
        }
    }

    #[test]
    fn shard_arguments_and_slurm() {
        assert_eq!(shard_of(Some("0/4")).unwrap(), Some((0, 4)));
        assert_eq!(shard_of(Some(" 3 / 4 ")).unwrap(), Some((3, 4)));
        for bad in ["4/4", "1/0", "a/2", "2", "-1/3"] {
            assert!(
                shard_of(Some(bad)).unwrap_err().contains("expected K/N"),
                "{bad}"
            );
        }
    }
}
