//! `exemplar analyze`: exclusion rules, scores and tests; the reports written to a
//! folder and the Markdown one printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use exemplar_core::experiment::Experiment;

use super::Error;
use crate::collector::{self, Db};

/// What `exemplar analyze` was asked besides the responses and the output folder.
pub struct Settings {
    pub seed: u64,
    pub lenient: bool,
    /// The experiment whose `analysis` rules apply.
    pub experiment: Option<PathBuf>,
    pub score_simulated: bool,
    /// Datasets whose scores go beside this one's (`--baseline`).
    pub baselines: Vec<PathBuf>,
    /// Each batch's Δ (`exemplar mis --per batch`), for the machine's scores (`--mis`).
    pub mis: Option<PathBuf>,
}

pub fn run(responses: &Path, out: &Path, settings: &Settings) -> Result<(), Error> {
    let is_db = collector::is_postgres(responses)
        || responses
            .extension()
            .is_some_and(|e| e == "db" || e == "sqlite");
    if is_db && !collector::is_postgres(responses) {
        if let Some(warning) = missing_wal(responses) {
            eprintln!("exemplar analyze: warning: {warning}");
        }
    }
    let records = if is_db {
        Db::open_read_only(responses)?.all()?
    } else {
        exemplar_analysis::read::read_path(responses).map_err(Error::Read)?
    };
    let mut options = match &settings.experiment {
        Some(dir) => exemplar_analysis::Options::for_experiment(&experiment(dir)?),
        None => {
            eprintln!(
                "exemplar analyze: no --experiment: applying the original study's exclusion \
                 thresholds, made for sessions of 45 main and 5 catch trials"
            );
            exemplar_analysis::Options::default()
        }
    };
    options.seed = settings.seed;
    options.score_simulated = settings.score_simulated;
    if settings.lenient {
        options.exclusion.missing_data_fails = false;
    }
    let batches = match &settings.mis {
        Some(path) => {
            let with_path = |mut e: exemplar_analysis::read::ReadError| {
                e.path = Some(path.clone());
                Error::Read(e)
            };
            let text = std::fs::read_to_string(path).map_err(|source| Error::File {
                path: path.clone(),
                source,
            })?;
            Some(exemplar_analysis::machine::read_batches_csv(&text).map_err(with_path)?)
        }
        None => None,
    };
    let mut analysis =
        exemplar_analysis::analyze_with_machine(&records, &options, batches.as_deref());
    for path in &settings.baselines {
        let records = exemplar_analysis::read::read_path(path).map_err(Error::Read)?;
        let other = exemplar_analysis::analyze(&records, &options);
        if other.input.trials_scored == 0 {
            return Err(Error::Message(format!(
                "--baseline {}: no trial in it is scored ({} records, {} sessions, {} passed)",
                path.display(),
                other.input.records,
                other.input.sessions,
                other.input.sessions_passed
            )));
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        analysis
            .baselines
            .push(exemplar_analysis::Baseline::from_analysis(&name, &other));
    }
    exemplar_analysis::write_reports(&analysis, out).map_err(|source| Error::File {
        path: out.to_path_buf(),
        source,
    })?;
    print!("{}", exemplar_analysis::markdown(&analysis));
    println!("\nexemplar: reports in {} (report.html, report.md, models.csv, units.csv, sessions.csv, posthoc.csv, conditions.csv, baselines.csv, machine.csv)", out.display());
    Ok(())
}

/// The experiment of `--experiment` (a folder or its `experiment.json`), checked as
/// `exemplar validate` checks it, except that its stimuli need not be there.
fn experiment(path: &Path) -> Result<Experiment, Error> {
    let file = if path.is_dir() {
        path.join("experiment.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| Error::File {
        path: file.clone(),
        source,
    })?;
    Experiment::from_json(&text).map_err(|problems| Error::Invalid {
        dir: file,
        problems,
    })
}

/// A warning when `db` is a SQLite database in write-ahead-log mode with no `-wal` file
/// beside it: the collector keeps its latest records in that file until a checkpoint, so
/// a copy of the database alone, taken while the collector ran, may lack them.
fn missing_wal(db: &Path) -> Option<String> {
    let mut header = [0u8; 20];
    std::fs::File::open(db).ok()?.read_exact(&mut header).ok()?;
    // The file header: the magic string, then at offset 18 the write version (2 = WAL).
    let wal_mode = header.starts_with(b"SQLite format 3\0") && header[18] == 2;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (wal_mode && !Path::new(&wal).exists()).then(|| {
        format!(
            "{} is in write-ahead-log mode and has no {} beside it. If it was copied while \
             the collector ran, its latest records may be missing: copy the -wal file with it, \
             or stop the collector first (it folds the log into the database when it stops).",
            db.display(),
            Path::new(&wal).display()
        )
    })
}
