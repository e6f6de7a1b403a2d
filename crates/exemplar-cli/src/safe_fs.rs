//! Reading folders and files that someone else prepared, safely: the one place where the
//! command line walks a folder (`exemplars`' images, `import-imi`'s release) or resolves a
//! path an experiment names (`validate`, `build`).
//!
//! A symbolic link is followed only when it resolves inside the folder being read. A link
//! that points outside it (to `/etc/passwd`, to a home folder), a dangling one, and one
//! that leads back to a folder already walked (a loop) are skipped with a line on stderr,
//! so a folder cannot make a walk endless or smuggle in files from elsewhere.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Why a folder or a path could not be read safely.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The root, a folder or the path does not resolve or cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The path resolves to something outside the root.
    #[error("{} resolves to {}, outside {}; copy the file there instead of linking to it", path.display(), real.display(), root.display())]
    Outside {
        path: PathBuf,
        real: PathBuf,
        root: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FsError + '_ {
    move |source| FsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a walk found, in path order (the paths as reached from the root, links
/// included; never a path outside the root once links are resolved).
#[derive(Debug, Default)]
pub struct Walked {
    /// Every folder, the root first.
    pub dirs: Vec<PathBuf>,
    /// Every file.
    pub files: Vec<PathBuf>,
}

/// Walks `root` recursively. `who` prefixes the notes on stderr (e.g. `exemplar
/// exemplars`). Fails only when `root` itself cannot be read.
pub fn walk(root: &Path, who: &str) -> Result<Walked, FsError> {
    let base = root.canonicalize().map_err(io_error(root))?;
    let mut out = Walked::default();
    let mut seen: HashSet<PathBuf> = HashSet::from([base.clone()]);
    let mut queue = vec![root.to_path_buf()];
    let mut i = 0;
    while i < queue.len() {
        let dir = queue[i].clone();
        i += 1;
        out.dirs.push(dir.clone());
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io_error(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let link = meta.file_type().is_symlink();
            let real = if link {
                match path.canonicalize() {
                    Ok(real) if real.starts_with(&base) => real,
                    Ok(real) => {
                        eprintln!(
                            "{who}: skipping {}: a symbolic link to {}, outside {}",
                            path.display(),
                            real.display(),
                            root.display()
                        );
                        continue;
                    }
                    Err(e) => {
                        eprintln!(
                            "{who}: skipping {}: a symbolic link that does not resolve ({e})",
                            path.display()
                        );
                        continue;
                    }
                }
            } else {
                path.clone()
            };
            if real.is_dir() {
                // Canonical, so that a link back to a folder already walked is a loop.
                let canonical = real.canonicalize().unwrap_or(real);
                if seen.insert(canonical) {
                    queue.push(path);
                } else if link {
                    eprintln!(
                        "{who}: skipping {}: a symbolic link to a folder already walked (a loop)",
                        path.display()
                    );
                }
                // (A real folder already walked was reached first through a link.)
            } else if real.is_file() {
                out.files.push(path);
            }
        }
    }
    out.dirs.sort();
    out.files.sort();
    Ok(out)
}

/// Checks that `path` resolves (links followed) to something inside `root`: what
/// `build` copies into a site, what `validate` reads and what `import-imi` copies. The
/// error names the path and where it leads.
pub fn inside(root: &Path, path: &Path) -> Result<(), FsError> {
    let base = root.canonicalize().map_err(io_error(root))?;
    let real = path.canonicalize().map_err(io_error(path))?;
    if real.starts_with(&base) {
        Ok(())
    } else {
        Err(FsError::Outside {
            path: path.to_path_buf(),
            real,
            root: root.to_path_buf(),
        })
    }
}
