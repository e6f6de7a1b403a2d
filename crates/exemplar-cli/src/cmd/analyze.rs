//! `exemplar analyze`: exclusion rules, scores and tests; the reports written to a
//! folder and the Markdown one printed.

use std::path::Path;

use super::Error;
use crate::collector::{self, Db};

pub fn run(responses: &Path, out: &Path, seed: u64, lenient: bool) -> Result<(), Error> {
    let is_db = collector::is_postgres(responses)
        || responses
            .extension()
            .is_some_and(|e| e == "db" || e == "sqlite");
    let records = if is_db {
        Db::open_read_only(responses)?.all()?
    } else {
        exemplar_analysis::read::read_path(responses).map_err(Error::Read)?
    };
    let mut options = exemplar_analysis::Options {
        seed,
        ..Default::default()
    };
    options.exclusion.missing_data_fails = !lenient;
    let analysis = exemplar_analysis::analyze(&records, &options);
    exemplar_analysis::write_reports(&analysis, out).map_err(|source| Error::File {
        path: out.to_path_buf(),
        source,
    })?;
    print!("{}", exemplar_analysis::markdown(&analysis));
    println!("\nexemplar: reports in {} (report.html, report.md, models.csv, units.csv, sessions.csv, posthoc.csv)", out.display());
    Ok(())
}
